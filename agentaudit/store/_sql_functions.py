"""The functions investigator SQL may call (data only; see :mod:`.sql_guard`).

Derived from ``system.functions`` of the embedded engine (chdb 4.4 = ClickHouse 26.9) and
reviewed by hand. Kept: pure computation over the audit data, by category (arithmetic,
comparison, logical, conditional, strings, search and regex, replacement, splitting, type
conversion, dates and times, rounding, maths, arrays, tuples, maps, hashing, encoding, JSON,
URL parsing, IP, UUID, random numbers, time windows), aggregate and window functions, a few
reviewed "Other" functions (formatting sizes, ``toTypeName``, ``runningDifference``, ...)
and the names the SQL parser produces for operators and syntax. Aliases are kept when the
function they alias is kept.

Left out on purpose: anything that reads or writes outside the audit data (``file``,
dictionaries and ``dictGet*``, ``joinGet*``, embedded dictionaries, model evaluation,
``AI*`` functions that call out to model APIs, ``hasColumnInTable``, ``getMacro``,
``globalVariable``), anything that reveals the host or the server (``hostName``, ``FQDN``,
``version``, ``uptime``, ``tcpPort``, ``serverUUID``, ``getSetting*``, ``filesystem*``,
``getOSKernelVersion``, ``currentUser``/``currentDatabase``, query IDs, introspection such
as ``addressToSymbol`` and ``flameGraph``), anything that can hang a server thread
(``sleep``, ``sleepEachRow``, fuzzy hyperscan matching), functions that take another
function's name as a string (``arrayReduce``, ``initializeAggregation``: the name would
escape this list), aggregate-state machinery (``finalizeAggregation``,
``runningAccumulate`` and the ``-State``/``-Merge`` combinators: they deserialize bytes the
query can forge), output-format machinery (``formatRow``, ``groupFormat``), internals
(``__*``, ``*IgnoreSet``), and specialised families investigators do not need (geo, bitmap,
distance/vector, encryption, financial, time-series, KQL, 128/256-bit integers,
``*OrDefault`` conversions, most quantile variants).

To refresh the candidates after an engine upgrade, list what is new and review it::

    SELECT name, categories, is_aggregate, case_insensitive, alias_to
    FROM system.functions
    WHERE origin = 'System' AND name NOT IN (<ALLOWED_FUNCTIONS>)
    ORDER BY categories, name

``tests/store/test_sql_guard.py`` checks this list against the running engine: every name
must exist there (or be a parser name), and no function left out must pass the guard.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "AGGREGATE_FUNCTIONS",
    "ALLOWED_COMBINATORS",
    "CASE_INSENSITIVE",
    "PARSER_FUNCTIONS",
    "SCALAR_FUNCTIONS",
]

# fmt: off
SCALAR_FUNCTIONS: Final[frozenset[str]] = frozenset({
    # Arithmetic
    "abs", "avg2", "byteSwap", "divide", "divideDecimal", "divideOrNull", "gcd", "ifNotFinite",
    "intDiv", "intDivOrNull", "intDivOrZero", "isFinite", "isInfinite", "isNaN", "lcm", "max2",
    "midpoint", "min2", "minus", "mod", "modOrNull", "modulo", "moduloLegacy", "moduloOrNull",
    "moduloOrZero", "multiply", "multiplyDecimal", "negate", "plus", "pmod", "pmodOrNull",
    "positive_modulo", "positive_modulo_or_null", "positiveModulo", "positiveModuloOrNull", "sqr",
    # Arrays
    "array", "array_remove", "arrayAll", "arrayAUC", "arrayAUCPR", "arrayAutocorrelation",
    "arrayAvg", "arrayBottomK", "arrayCompact", "arrayConcat", "arrayCount", "arrayCumSum",
    "arrayCumSumNonNegative", "arrayDifference", "arrayDistinct", "arrayDotProduct",
    "arrayElement", "arrayElementOrNull", "arrayEnumerate", "arrayEnumerateDense",
    "arrayEnumerateDenseRanked", "arrayEnumerateUniq", "arrayEnumerateUniqRanked", "arrayExcept",
    "arrayExists", "arrayFill", "arrayFilter", "arrayFirst", "arrayFirstIndex",
    "arrayFirstOrNull", "arrayFlatten", "arrayFlattenedLength", "arrayFold", "arrayIntersect",
    "arrayJaccardIndex", "arrayJoin", "arrayLast", "arrayLastIndex", "arrayLastOrNull",
    "arrayLevenshteinDistance", "arrayLevenshteinDistanceWeighted", "arrayMap", "arrayMax",
    "arrayMin", "arrayNormalizedGini", "arrayPartialReverseSort", "arrayPartialShuffle",
    "arrayPartialSort", "arrayPopBack", "arrayPopFront", "arrayPRAUC", "arrayProduct",
    "arrayPushBack", "arrayPushFront", "arrayRandomSample", "arrayRemove", "arrayResize",
    "arrayReverse", "arrayReverseFill", "arrayReverseSort", "arrayReverseSplit", "arrayROCAUC",
    "arrayRotateLeft", "arrayRotateRight", "arrayShiftLeft", "arrayShiftRight", "arrayShingles",
    "arrayShuffle", "arraySimilarity", "arraySlice", "arraySort", "arraySplit", "arraySum",
    "arraySymmetricDifference", "arrayTopK", "arrayTranspose", "arrayUnion", "arrayUniq",
    "arrayWithConstant", "arrayZip", "arrayZipUnaligned", "CARDINALITY", "countEqual", "empty",
    "flatten", "has", "hasAll", "hasAny", "hasSubstr", "indexOf", "indexOfAssumeSorted", "length",
    "notEmpty", "notHas", "OCTET_LENGTH", "range", "replicate", "reverse", "unnest",
    # Bit
    "bitAnd", "bitCount", "bitHammingDistance", "bitNot", "bitOr", "bitRotateLeft",
    "bitRotateRight", "bitShiftLeft", "bitShiftRight", "bitSlice", "bitTest", "bitTestAll",
    "bitTestAny", "bitXor",
    # Comparison
    "equals", "globalIn", "globalNotIn", "globalNotNullIn", "globalNullIn", "greater",
    "greaterOrEquals", "in", "isDistinctFrom", "isNotDistinctFrom", "less", "lessOrEquals",
    "notEquals", "notIn", "notNullIn", "nullIn",
    # Conditional
    "caseWithoutExpr", "caseWithoutExpression", "clamp", "greatest", "if", "least", "multiIf",
    # Dates and Times
    "addDate", "addDays", "addHours", "addInterval", "addMicroseconds", "addMilliseconds",
    "addMinutes", "addMonths", "addNanoseconds", "addQuarters", "addSeconds",
    "addTupleOfIntervals", "addWeeks", "addYears", "age", "changeDay", "changeHour",
    "changeMinute", "changeMonth", "changeSecond", "changeYear", "curdate", "current_date",
    "current_timestamp", "date_bin", "DATE_DIFF", "date_diff", "DATE_FORMAT", "DATE_TRUNC",
    "dateDiff", "dateName", "dateTrunc", "DAY", "DAYOFMONTH", "DAYOFWEEK", "DAYOFYEAR",
    "formatDateTime", "formatDateTimeInJodaSyntax", "FROM_DAYS", "FROM_UNIXTIME",
    "from_utc_timestamp", "fromDaysSinceYearZero", "fromDaysSinceYearZero32",
    "fromModifiedJulianDay", "fromModifiedJulianDayOrNull", "fromUnixTimestamp",
    "fromUnixTimestampInJodaSyntax", "fromUTCTimestamp", "HOUR", "LAST_DAY", "localtime",
    "localtimestamp", "makeDate", "makeDate32", "makeDateTime", "makeDateTime64", "MICROSECOND",
    "MILLISECOND", "MINUTE", "MONTH", "monthName", "NANOSECOND", "now", "now64", "nowInBlock",
    "nowInBlock64", "QUARTER", "SECOND", "subDate",
    "subtractDays", "subtractHours", "subtractInterval", "subtractMicroseconds",
    "subtractMilliseconds", "subtractMinutes", "subtractMonths", "subtractNanoseconds",
    "subtractQuarters", "subtractSeconds", "subtractTupleOfIntervals", "subtractWeeks",
    "subtractYears", "time_bucket", "timeDiff", "timeSlot", "timeSlots", "timestamp",
    "timestamp_diff", "TIMESTAMP_DIFF", "timestampDiff", "timezone", "timeZone", "timezoneOf",
    "timeZoneOf", "timeZoneOffset", "timezoneOffset", "TO_DAYS", "to_utc_timestamp", "today",
    "toDayOfMonth", "toDayOfWeek", "toDayOfYear", "toDaysInMonth", "toDaysSinceYearZero",
    "toHour", "toISOWeek", "toISOYear", "toLastDayOfMonth", "toLastDayOfWeek", "toMicrosecond",
    "toMillisecond", "toMinute", "toModifiedJulianDay", "toModifiedJulianDayOrNull", "toMonday",
    "toMonth", "toMonthNumSinceEpoch", "toNanosecond", "toQuarter", "toRelativeDayNum",
    "toRelativeHourNum", "toRelativeMinuteNum", "toRelativeMonthNum", "toRelativeQuarterNum",
    "toRelativeSecondNum", "toRelativeWeekNum", "toRelativeYearNum", "toSecond", "toStartOfDay",
    "toStartOfFifteenMinutes", "toStartOfFiveMinute", "toStartOfFiveMinutes", "toStartOfHour",
    "toStartOfInterval", "toStartOfISOYear", "toStartOfMicrosecond", "toStartOfMillisecond",
    "toStartOfMinute", "toStartOfMonth", "toStartOfNanosecond", "toStartOfQuarter",
    "toStartOfSecond", "toStartOfTenMinutes", "toStartOfWeek", "toStartOfYear",
    "toTimeWithFixedDate", "toTimeZone", "toTimezone", "toUnixTimestamp", "toUTCTimestamp",
    "toWeek", "toYear", "toYearNumSinceEpoch", "toYearWeek", "toYYYYMM", "toYYYYMMDD",
    "toYYYYMMDDhhmmss", "UTC_timestamp", "UTCTimestamp", "week", "YEAR", "yearweek", "yesterday",
    "YYYYMMDDhhmmssToDateTime", "YYYYMMDDhhmmssToDateTime64", "YYYYMMDDToDate",
    "YYYYMMDDToDate32",
    # Encoding
    "bin", "bitmaskToArray", "bitmaskToList", "bitPositionsToArray", "char", "hex", "sqid",
    "sqidDecode", "sqidEncode", "unbin", "unhex",
    # Hash
    "cityHash64", "farmFingerprint64", "farmHash64", "gccMurmurHash", "halfMD5", "intHash32",
    "intHash64", "javaHash", "jumpConsistentHash", "keccak256", "kostikConsistentHash", "MD4",
    "MD5", "metroHash64", "murmurHash2_32", "murmurHash2_64", "murmurHash3_128", "murmurHash3_32",
    "murmurHash3_64", "RIPEMD160", "SHA1", "SHA224", "SHA256", "SHA384", "SHA512", "SHA512_256",
    "sipHash128", "sipHash128Keyed", "sipHash128Reference", "sipHash128ReferenceKeyed",
    "sipHash64", "sipHash64Keyed", "URLHash", "wyHash64", "xxh3", "xxh3_128", "xxHash32",
    "xxHash64", "yandexConsistentHash",
    # IP Address
    "cutIPv6", "INET6_ATON", "INET6_NTOA", "INET_ATON", "INET_NTOA", "IPv4CIDRToRange",
    "IPv4NumToString", "IPv4NumToStringClassC", "IPv4StringToNum", "IPv4StringToNumOrNull",
    "IPv4ToIPv6", "IPv6CIDRToRange", "IPv6NumToString", "IPv6StringToNum",
    "IPv6StringToNumOrNull", "isIPAddressInRange", "isIPv4String", "isIPv6String", "toIPv4",
    "toIPv4OrNull", "toIPv4OrZero", "toIPv6", "toIPv6OrNull", "toIPv6OrZero",
    # JSON
    "isValidJSON", "JSON_ARRAY_LENGTH", "JSON_EXISTS", "JSON_QUERY", "JSON_VALUE", "JSONAllPaths",
    "JSONAllPathsWithTypes", "JSONAllValues", "JSONArrayLength", "JSONExtract",
    "JSONExtractArrayRaw", "JSONExtractArrayRawCaseInsensitive", "JSONExtractBool",
    "JSONExtractBoolCaseInsensitive", "JSONExtractCaseInsensitive", "JSONExtractFloat",
    "JSONExtractFloatCaseInsensitive", "JSONExtractInt", "JSONExtractIntCaseInsensitive",
    "JSONExtractKeys", "JSONExtractKeysAndValues", "JSONExtractKeysAndValuesCaseInsensitive",
    "JSONExtractKeysAndValuesRaw", "JSONExtractKeysAndValuesRawCaseInsensitive",
    "JSONExtractKeysCaseInsensitive", "JSONExtractRaw", "JSONExtractRawCaseInsensitive",
    "JSONExtractString", "JSONExtractStringCaseInsensitive", "JSONExtractUInt",
    "JSONExtractUIntCaseInsensitive", "JSONHas", "JSONKey", "JSONLength", "JSONMergePatch",
    "jsonMergePatch", "JSONType", "prettyPrintJSON", "simpleJSONExtractBool",
    "simpleJSONExtractFloat", "simpleJSONExtractInt", "simpleJSONExtractRaw",
    "simpleJSONExtractString", "simpleJSONExtractUInt", "simpleJSONHas", "toJSONString",
    "visitParamExtractBool", "visitParamExtractFloat", "visitParamExtractInt",
    "visitParamExtractRaw", "visitParamExtractString", "visitParamExtractUInt", "visitParamHas",
    # Logical
    "and", "not", "or", "xor",
    # Map
    "extractKeyValuePairs", "extractKeyValuePairsWithEscaping", "map", "MAP_FROM_ARRAYS",
    "mapAdd", "mapAll", "mapApply", "mapConcat", "mapContains", "mapContainsKey",
    "mapContainsKeyLike", "mapContainsValue", "mapContainsValueLike", "mapExists",
    "mapExtractKeyLike", "mapExtractValueLike", "mapFilter", "mapFromArrays", "mapFromString",
    "mapKeys", "mapPartialReverseSort", "mapPartialSort", "mapPopulateSeries", "mapReverseSort",
    "mapSort", "mapSubtract", "mapUpdate", "mapValues", "str_to_map",
    # Mathematical
    "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "cbrt", "cos", "cosh", "degrees",
    "e", "erf", "erfc", "exp", "exp10", "exp2", "factorial", "hypot", "intExp10", "intExp2",
    "isPrime", "isProbablePrime", "lgamma", "ln", "log", "log10", "log1p", "log2", "pi", "pow",
    "power", "proportionsZTest", "radians", "sigmoid", "sign", "sin", "sinh", "sqrt", "tan",
    "tanh", "tgamma", "width_bucket", "widthBucket",
    # Null
    "assumeNotNull", "coalesce", "firstNonDefault", "ifNull", "isNotNull", "isNull", "isNullable",
    "isZeroOrNull", "nullIf", "toNullable",
    # Other (reviewed one by one)
    "bar", "blockNumber", "blockSize", "byteSize", "countDigits", "defaultValueOfArgumentType",
    "defaultValueOfTypeName", "digits", "errorCodeToName", "FORMAT_BYTES",
    "formatReadableDecimalSize", "formatReadableQuantity", "formatReadableSize",
    "formatReadableTimeDelta", "getSizeOfEnumType", "getSubcolumn", "identity", "ignore",
    "isConstant", "isDecimalOverflow", "lowCardinalityIndices", "lowCardinalityKeys",
    "MACNumToString", "MACStringToNum", "MACStringToOUI", "materialize", "minSampleSizeContinous",
    "minSampleSizeContinuous", "minSampleSizeConversion", "neighbor", "parseISO8601Duration",
    "parseReadableSize", "parseReadableSizeOrNull", "parseReadableSizeOrZero", "parseTimeDelta",
    "rowNumberInAllBlocks", "rowNumberInBlock", "runningDifference",
    "runningDifferenceStartingWithFirstValue", "toColumnTypeName", "toTypeName", "transform",
    "variantElement", "variantType", "visibleWidth",
    # Parser output: names the SQL parser produces for syntax (x -> y, EXISTS, CASE x WHEN,
    # GROUPING, untuple) that system.functions does not list, plus the internal _CAST
    "_CAST", "caseWithExpr", "caseWithExpression", "exists", "grouping", "lambda", "untuple",
    # Random Number
    "rand", "rand32", "rand64", "randCanonical", "randConstant", "randomFixedString",
    "randomPrintableASCII", "randomString", "randomStringUTF8", "randUniform",
    # Rounding
    "ceil", "ceiling", "floor", "round", "roundAge", "roundBankers", "roundDown", "roundDuration",
    "roundToExp2", "trunc", "truncate",
    # String
    "appendTrailingCharIfAbsent", "ascii", "base32Decode", "base32Encode", "base58Decode",
    "base58Encode", "base64Decode", "base64Encode", "base64URLDecode", "base64URLEncode",
    "basename", "byteHammingDistance", "byteSlice", "caseFoldUTF8", "CHAR_LENGTH",
    "CHARACTER_LENGTH", "compareSubstrings", "concat", "concat_ws", "concatAssumeInjective",
    "concatWithSeparator", "concatWithSeparatorAssumeInjective", "conv", "convertCharset",
    "CRC32", "CRC32IEEE", "CRC64", "damerauLevenshteinDistance", "decodeHTMLComponent",
    "decodeXMLComponent", "editDistance", "editDistanceUTF8", "encodeXMLComponent", "endsWith",
    "endsWithCaseInsensitive", "endsWithCaseInsensitiveUTF8", "endsWithUTF8",
    "extractTextFromHTML", "firstLine", "FROM_BASE64", "initcap", "initcapUTF8", "isASCII",
    "isValidASCII", "isValidUTF8", "jaroSimilarity", "jaroWinklerSimilarity", "lcase", "left",
    "leftPad", "leftPadUTF8", "leftUTF8", "lengthUTF8", "levenshteinDistance",
    "levenshteinDistanceUTF8", "lower", "lowerUTF8", "lpad", "ltrim", "mid", "mismatches",
    "NATURAL_SORT_KEY", "naturalSortKey", "normalizeUTF8NFC", "normalizeUTF8NFD",
    "normalizeUTF8NFKC", "normalizeUTF8NFKCCasefold", "normalizeUTF8NFKD", "REGEXP_EXTRACT",
    "regexp_instr", "REGEXP_SUBSTR", "regexpExtract", "regexpInstr", "regexpPosition",
    "removeAccentsUTF8", "removeDiacriticsUTF8", "repeat", "reverseUTF8", "right", "rightPad",
    "rightPadUTF8", "rightUTF8", "rpad", "rtrim", "soundex", "space", "sparseGrams",
    "sparseGramsHashes", "sparseGramsHashesUTF8", "sparseGramsUTF8", "startsWith",
    "startsWithCaseInsensitive", "startsWithCaseInsensitiveUTF8", "startsWithUTF8",
    "stringBytesEntropy", "stringBytesUniq", "stringJaccardIndex", "stringJaccardIndexUTF8",
    "substr", "substring", "SUBSTRING_INDEX", "substringIndex", "substringIndexUTF8",
    "substringUTF8", "TO_BASE64", "toValidUTF8", "trim", "trimBoth", "trimLeft", "trimRight",
    "tryBase32Decode", "tryBase58Decode", "tryBase64Decode", "tryBase64URLDecode", "ucase",
    "upper", "upperUTF8",
    # String Replacement
    "format", "overlay", "overlayUTF8", "printf", "REGEXP_REPLACE", "regexpQuoteMeta", "replace",
    "replaceAll", "replaceOne", "replaceRegexpAll", "replaceRegexpOne", "translate",
    "translateUTF8",
    # String Search
    "countMatches", "countMatchesCaseInsensitive", "countSubstrings",
    "countSubstringsCaseInsensitive", "countSubstringsCaseInsensitiveUTF8", "extract",
    "extractAll", "extractAllGroupsHorizontal", "extractGroups", "hasAllToken", "hasAllTokens",
    "hasAnyToken", "hasAnyTokens", "hasPhrase", "hasSubsequence", "hasSubsequenceCaseInsensitive",
    "hasSubsequenceCaseInsensitiveUTF8", "hasSubsequenceUTF8", "hasToken",
    "hasTokenCaseInsensitive", "hasTokenCaseInsensitiveOrNull", "hasTokenOrNull", "highlight",
    "ilike", "instr", "like", "locate", "match", "matchCaseInsensitive", "matchPhrase",
    "multiMatchAllIndices", "multiMatchAny", "multiMatchAnyIndex", "multiSearchAllPositions",
    "multiSearchAllPositionsCaseInsensitive", "multiSearchAllPositionsCaseInsensitiveUTF8",
    "multiSearchAllPositionsUTF8", "multiSearchAny", "multiSearchAnyCaseInsensitive",
    "multiSearchAnyCaseInsensitiveUTF8", "multiSearchAnyUTF8", "multiSearchFirstIndex",
    "multiSearchFirstIndexCaseInsensitive", "multiSearchFirstIndexCaseInsensitiveUTF8",
    "multiSearchFirstIndexUTF8", "multiSearchFirstPosition",
    "multiSearchFirstPositionCaseInsensitive", "multiSearchFirstPositionCaseInsensitiveUTF8",
    "multiSearchFirstPositionUTF8", "ngramDistance", "ngramDistanceCaseInsensitive",
    "ngramDistanceCaseInsensitiveUTF8", "ngramDistanceUTF8", "ngramSearch",
    "ngramSearchCaseInsensitive", "ngramSearchCaseInsensitiveUTF8", "ngramSearchUTF8", "notILike",
    "notLike", "notMatch", "notMatchCaseInsensitive", "position", "positionCaseInsensitive",
    "positionCaseInsensitiveUTF8", "positionUTF8", "REGEXP_MATCHES",
    # String Splitting
    "alphaTokens", "array_to_string", "arrayStringConcat", "extractAllGroups",
    "extractAllGroupsVertical", "naiveBayesNgrams", "ngrams", "reverseBySeparator",
    "splitByAlpha", "splitByChar", "splitByNonAlpha", "splitByRegexp", "splitByString",
    "splitByWhitespace", "tokens", "tokensForLikePattern",
    # Time Window
    "hop", "hopEnd", "hopStart", "tumble", "tumbleEnd", "tumbleStart",
    # Tuple
    "dotProduct", "flattenTuple", "scalarProduct", "tuple", "tupleConcat", "tupleDivide",
    "tupleDivideByNumber", "tupleElement", "tupleHammingDistance", "tupleIntDiv",
    "tupleIntDivByNumber", "tupleIntDivOrZero", "tupleIntDivOrZeroByNumber", "tupleMinus",
    "tupleModulo", "tupleModuloByNumber", "tupleMultiply", "tupleMultiplyByNumber", "tupleNames",
    "tupleNegate", "tuplePlus", "tuplePositiveModuloByNumber", "tupleToNameValuePairs",
    "vectorDifference", "vectorSum",
    # Type Conversion
    "accurateCast", "accurateCastOrNull", "CAST", "DATE", "fromUnixTimestamp64Micro",
    "fromUnixTimestamp64Milli", "fromUnixTimestamp64Nano", "fromUnixTimestamp64Second",
    "parseDateTime", "parseDateTime32BestEffort", "parseDateTime32BestEffortOrNull",
    "parseDateTime32BestEffortOrZero", "parseDateTime64", "parseDateTime64BestEffort",
    "parseDateTime64BestEffortOrNull", "parseDateTime64BestEffortOrZero",
    "parseDateTime64BestEffortUS", "parseDateTime64BestEffortUSOrNull",
    "parseDateTime64BestEffortUSOrZero", "parseDateTime64InJodaSyntax",
    "parseDateTime64InJodaSyntaxOrNull", "parseDateTime64InJodaSyntaxOrZero",
    "parseDateTime64OrNull", "parseDateTime64OrZero", "parseDateTimeBestEffort",
    "parseDateTimeBestEffortOrNull", "parseDateTimeBestEffortOrZero", "parseDateTimeBestEffortUS",
    "parseDateTimeBestEffortUSOrNull", "parseDateTimeBestEffortUSOrZero",
    "parseDateTimeInJodaSyntax", "parseDateTimeInJodaSyntaxOrNull",
    "parseDateTimeInJodaSyntaxOrZero", "parseDateTimeOrNull", "parseDateTimeOrZero",
    "reinterpretAsString", "str_to_date", "TO_UNIXTIME", "toBool", "toDate", "toDate32",
    "toDate32OrNull", "toDate32OrZero", "toDateOrNull", "toDateOrZero", "toDateTime",
    "toDateTime32", "toDateTime64", "toDateTime64OrNull", "toDateTime64OrZero",
    "toDateTimeOrNull", "toDateTimeOrZero", "toDecimal32", "toDecimal32OrNull",
    "toDecimal32OrZero", "toDecimal64", "toDecimal64OrNull", "toDecimal64OrZero",
    "toDecimalString", "toFixedString", "toFloat32", "toFloat32OrNull", "toFloat32OrZero",
    "toFloat64", "toFloat64OrNull", "toFloat64OrZero", "toInt16", "toInt16OrNull",
    "toInt16OrZero", "toInt32", "toInt32OrNull", "toInt32OrZero", "toInt64", "toInt64OrNull",
    "toInt64OrZero", "toInt8", "toInt8OrNull", "toInt8OrZero", "toInterval", "toIntervalDay",
    "toIntervalHour", "toIntervalMicrosecond", "toIntervalMillisecond", "toIntervalMinute",
    "toIntervalMonth", "toIntervalNanosecond", "toIntervalQuarter", "toIntervalSecond",
    "toIntervalWeek", "toIntervalYear", "toLowCardinality", "toString", "toStringCutToZero",
    "toTime", "toTime64", "toTime64OrNull", "toTime64OrZero", "toTimeOrNull", "toTimeOrZero",
    "toUInt16", "toUInt16OrNull", "toUInt16OrZero", "toUInt32", "toUInt32OrNull",
    "toUInt32OrZero", "toUInt64", "toUInt64OrNull", "toUInt64OrZero", "toUInt8", "toUInt8OrNull",
    "toUInt8OrZero", "toUnixTimestamp64Micro", "toUnixTimestamp64Milli", "toUnixTimestamp64Nano",
    "toUnixTimestamp64Second", "toUUID", "toUUIDOrZero",
    # URL
    "cutFragment", "cutQueryString", "cutQueryStringAndFragment",
    "cutToFirstSignificantSubdomain", "cutToFirstSignificantSubdomainCustom",
    "cutToFirstSignificantSubdomainCustomRFC", "cutToFirstSignificantSubdomainCustomWithWWW",
    "cutToFirstSignificantSubdomainCustomWithWWWRFC", "cutToFirstSignificantSubdomainRFC",
    "cutToFirstSignificantSubdomainWithWWW", "cutToFirstSignificantSubdomainWithWWWRFC",
    "cutURLParameter", "cutWWW", "decodeURLComponent", "decodeURLFormComponent", "domain",
    "domainRFC", "domainWithoutWWW", "domainWithoutWWWRFC", "encodeURLComponent",
    "encodeURLFormComponent", "extractURLParameter", "extractURLParameterNames",
    "extractURLParameters", "firstSignificantSubdomain", "firstSignificantSubdomainCustom",
    "firstSignificantSubdomainCustomRFC", "firstSignificantSubdomainRFC", "fragment", "netloc",
    "path", "pathFull", "port", "portRFC", "protocol", "queryString", "queryStringAndFragment",
    "topLevelDomain", "topLevelDomainRFC", "URLHierarchy", "URLPathHierarchy",
    # UUID
    "dateTime64ToSnowflakeID", "dateTimeToSnowflakeID", "dateTimeToUUIDv7", "generateSnowflakeID",
    "generateUUIDv4", "generateUUIDv7", "snowflakeIDToDateTime", "snowflakeIDToDateTime64",
    "toUUIDOrNull", "UUIDNumToString", "UUIDStringToNum", "UUIDToNum", "UUIDv7ToDateTime",
})
"""Scalar functions, by category (``categories`` in system.functions)."""

AGGREGATE_FUNCTIONS: Final[frozenset[str]] = frozenset({
    "any", "any_respect_nulls", "any_value", "any_value_respect_nulls", "anyHeavy", "anyLast",
    "anyLast_respect_nulls", "anyLastRespectNulls", "anyRespectNulls", "anyValueRespectNulls",
    "approx_top_count", "approx_top_k", "approx_top_sum", "argAndMax", "argAndMin", "argMax",
    "argMin", "array_agg", "avg", "avgWeighted", "BIT_AND", "BIT_OR", "BIT_XOR", "boundingRatio",
    "corr", "corrStable", "count", "COVAR_POP", "COVAR_SAMP", "covarPop", "covarPopStable",
    "covarSamp", "covarSampStable", "cume_dist", "deltaSum", "deltaSumTimestamp", "dense_rank",
    "denseRank", "distinctJSONPaths", "distinctJSONPathsAndTypes", "entropy",
    "exponentialMovingAverage", "exponentialTimeDecayedAvg", "exponentialTimeDecayedCount",
    "exponentialTimeDecayedMax", "exponentialTimeDecayedSum", "first_value",
    "first_value_respect_nulls", "firstValueRespectNulls", "gini", "group_concat", "groupArray",
    "groupArrayInsertAt", "groupArrayIntersect", "groupArrayLast", "groupArrayMovingAvg",
    "groupArrayMovingSum", "groupArraySample", "groupArraySorted", "groupBitAnd", "groupBitOr",
    "groupBitXor", "groupConcat", "groupUniqArray", "histogram", "intervalLengthSum", "kurtPop",
    "kurtSamp", "lag", "lagInFrame", "last_value", "last_value_respect_nulls",
    "lastValueRespectNulls", "lead", "leadInFrame", "max", "max_by", "maxMappedArrays", "median",
    "medianExact", "medianExactWeighted", "medianTDigest", "medianTiming", "mergedJSONPatch",
    "min", "min_by", "minMappedArrays", "nonNegativeDerivative", "nth_value", "ntile",
    "percent_rank", "percentRank", "quantile", "quantileExact", "quantileExactWeighted",
    "quantiles", "quantilesExact", "quantilesExactWeighted", "quantilesTDigest",
    "quantilesTiming", "quantileTDigest", "quantileTiming", "rank", "rankCorr", "regr_avgx",
    "regr_avgy", "regr_count", "regr_intercept", "regr_r2", "regr_slope", "regr_sxx", "regr_sxy",
    "regr_syy", "retention", "row_number", "sequenceCount", "sequenceMatch",
    "sequenceMatchEvents", "sequenceNextNode", "simpleLinearRegression", "singleValueOrNull",
    "skewPop", "skewSamp", "sparkBar", "sparkbar", "STD", "STDDEV", "STDDEV_POP", "STDDEV_SAMP",
    "stddevPop", "stddevPopStable", "stddevSamp", "stddevSampStable", "string_agg", "sum",
    "sumCount", "sumKahan", "sumMappedArrays", "sumWithOverflow", "topK", "topKWeighted", "uniq",
    "uniqCombined", "uniqCombined64", "uniqExact", "uniqHLL12", "uniqUpTo", "VAR_POP", "VAR_SAMP",
    "varPop", "varPopStable", "varSamp", "varSampStable", "windowFunnel",
})
"""Aggregate and window functions; also the bases that combinators may extend."""

CASE_INSENSITIVE: Final[frozenset[str]] = frozenset({
    "_cast", "abs", "acos", "adddate", "age", "any_value", "any_value_respect_nulls",
    "approx_top_count", "approx_top_k", "approx_top_sum", "array_agg", "array_remove",
    "array_to_string", "arraypartialshuffle", "arrayshuffle", "ascii", "asin", "atan", "atan2",
    "avg", "avg2", "bin", "bit_and", "bit_or", "bit_xor", "byteslice", "byteswap", "cardinality",
    "cast", "ceil", "ceiling", "char", "char_length", "character_length", "coalesce", "concat",
    "concat_ws", "corr", "cos", "count", "countsubstrings", "covar_pop", "covar_samp", "crc32",
    "crc32ieee", "crc64", "curdate", "current_date", "current_timestamp", "date", "date_bin",
    "date_format", "date_trunc", "datediff", "datename", "day", "dayofmonth", "dayofweek",
    "dayofyear", "degrees", "dense_rank", "exp", "factorial", "first_value",
    "first_value_respect_nulls", "firstnondefault", "flatten", "floor", "format_bytes",
    "from_base64", "from_days", "from_unixtime", "from_utc_timestamp", "greatest", "group_concat",
    "hassubsequence", "hassubsequencecaseinsensitive", "hassubsequencecaseinsensitiveutf8",
    "hassubsequenceutf8", "hastokencaseinsensitive", "hastokencaseinsensitiveornull", "hex",
    "hour", "hypot", "if", "ifnull", "inet6_aton", "inet6_ntoa", "inet_aton", "inet_ntoa",
    "initcap", "instr", "isnull", "json_array_length", "lag", "last_day", "last_value",
    "last_value_respect_nulls", "lcase", "lead", "least", "left", "length", "ln", "localtime",
    "localtimestamp", "locate", "log", "log10", "log2", "lower", "lpad", "makedate", "makedate32",
    "makedatetime", "makedatetime64", "max", "max2", "max_by", "microsecond", "mid", "midpoint",
    "millisecond", "min", "min2", "min_by", "minute", "mod", "modornull", "month", "monthname",
    "nanosecond", "natural_sort_key", "not", "now", "now64", "nth_value", "ntile", "nullif",
    "octet_length", "overlay", "percent_rank", "pi", "pmod", "pmodornull", "position",
    "positive_modulo", "positive_modulo_or_null", "positivemodulo", "positivemoduloornull", "pow",
    "power", "quarter", "radians", "rand", "rank", "regexp_extract", "regexp_instr",
    "regexp_matches", "regexp_replace", "regexp_substr", "regexpinstr", "regr_avgx", "regr_avgy",
    "regr_count", "regr_intercept", "regr_r2", "regr_slope", "regr_sxx", "regr_sxy", "regr_syy",
    "repeat", "replace", "reverse", "right", "round", "row_number", "rpad", "scalarproduct",
    "second", "sign", "sin", "soundex", "space", "sqr", "sqrt", "std", "stddev", "stddev_pop",
    "stddev_samp", "str_to_date", "str_to_map", "string_agg", "subdate", "substr", "substring",
    "substring_index", "sum", "tan", "tanh", "time_bucket", "timediff", "timestamp", "timezone",
    "to_base64", "to_days", "to_unixtime", "to_utc_timestamp", "today", "todecimalstring",
    "trunc", "truncate", "ucase", "unbin", "unhex", "unnest", "upper", "utc_timestamp",
    "utctimestamp", "var_pop", "var_samp", "vectordifference", "vectorsum", "week",
    "width_bucket", "year", "yearweek", "yyyymmddhhmmsstodatetime", "yyyymmddtodate",
    "yyyymmddtodate32",
})
"""Lower-cased allowed names that ClickHouse resolves case-insensitively."""
# fmt: on

PARSER_FUNCTIONS: Final[frozenset[str]] = frozenset({"exists", "grouping", "lambda", "untuple"})
"""Parser-made names in :data:`SCALAR_FUNCTIONS` that system.functions does not list."""

ALLOWED_COMBINATORS: Final[tuple[str, ...]] = (
    "If",
    "Array",
    "Map",
    "ForEach",
    "Distinct",
    "OrDefault",
    "OrNull",
    "Resample",
    "ArgMin",
    "ArgMax",
    "Tuple",
)
"""Aggregate combinator suffixes (``countIf``, ``sumArrayOrNull``, ``uniqDistinct``...).

Left out: ``State``, ``SimpleState``, ``Merge`` and ``MergeState`` (aggregate states are
opaque bytes; merging forged ones exercises deserialisation code meant for trusted data).
"""

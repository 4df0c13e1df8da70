-- The database every agentaudit table lives in.
CREATE DATABASE IF NOT EXISTS agentaudit;

-- Pupilpost: database and roles for the production compose.
--
-- Runs once, when the postgres container starts on an empty data directory
-- (docker-entrypoint-initdb.d), as the postgres superuser, through psql.
-- Passwords come from the container's environment (psql \getenv); the values
-- set first are the documented local-only defaults used when a variable is
-- not set. Changing a variable later does not change an existing role: use
-- ALTER ROLE ... PASSWORD for that.
--
-- pupilpost_owner owns the database, so it can create each service's schema
-- and run the migrations (<SVC>_MIGRATE_DATABASE_URL). Each service runs as
-- pp_<svc> (<SVC>_DATABASE_URL): a login role that is not superuser, cannot
-- bypass row-level security and owns nothing, so the RLS policies apply to it.
-- The migrations grant it what it needs on its own schema.

\set ON_ERROR_STOP on

\set owner_password 'owner-local-only'
\set ingest_password 'ingest-local-only'
\set classifier_password 'classifier-local-only'
\set dispatch_password 'dispatch-local-only'
\set audit_password 'audit-local-only'
\set retention_password 'retention-local-only'

\getenv owner_password PUPILPOST_OWNER_PASSWORD
\getenv ingest_password PP_INGEST_PASSWORD
\getenv classifier_password PP_CLASSIFIER_PASSWORD
\getenv dispatch_password PP_DISPATCH_PASSWORD
\getenv audit_password PP_AUDIT_PASSWORD
\getenv retention_password PP_RETENTION_PASSWORD

-- Migration (owner) role: owns the database and every schema in it.
CREATE ROLE pupilpost_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'owner_password';

-- Runtime roles, one per service.
CREATE ROLE pp_ingest LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'ingest_password';
CREATE ROLE pp_classifier LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'classifier_password';
CREATE ROLE pp_dispatch LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'dispatch_password';
CREATE ROLE pp_audit LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'audit_password';
CREATE ROLE pp_retention LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'retention_password';

CREATE DATABASE pupilpost OWNER pupilpost_owner ENCODING 'UTF8';

-- Only the Pupilpost roles may connect; nobody else gets temp tables.
REVOKE ALL ON DATABASE pupilpost FROM PUBLIC;
GRANT CONNECT ON DATABASE pupilpost
  TO pupilpost_owner, pp_ingest, pp_classifier, pp_dispatch, pp_audit, pp_retention;

-- PostgreSQL 15+ already denies CREATE on schema public to PUBLIC; each
-- service's migrations create and grant its own schema.

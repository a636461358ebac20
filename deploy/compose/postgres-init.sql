-- One database and one user per service: no service can read another's data.
CREATE USER registry WITH PASSWORD 'registry';
CREATE DATABASE registry OWNER registry;
CREATE USER programs WITH PASSWORD 'programs';
CREATE DATABASE programs OWNER programs;
CREATE USER partnerships WITH PASSWORD 'partnerships';
CREATE DATABASE partnerships OWNER partnerships;
CREATE USER reporting WITH PASSWORD 'reporting';
CREATE DATABASE reporting OWNER reporting;
REVOKE ALL ON DATABASE registry, programs, partnerships, reporting FROM PUBLIC;

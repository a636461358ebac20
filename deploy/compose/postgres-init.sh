#!/bin/sh
# One database and one user per service, owned by that user, closed to everyone else: no
# service can read another's data. Runs once, when the data volume is empty. The passwords
# come from <SERVICE>_DB_PASSWORD (docker-compose.yml passes them; set them in a .env file
# beside it), defaulting to the service's name for a local trial.
set -eu

for service in registry programs partnerships reporting; do
  variable="$(echo "$service" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD"
  password="$(printenv "$variable" || echo "$service")"
  psql --set ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    --set name="$service" --set password="$password" <<'SQL'
CREATE USER :"name" WITH PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
done

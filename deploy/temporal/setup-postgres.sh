#!/bin/sh
# Creates Temporal's two databases in the compose Postgres and brings their schemas up
# to date. Runs (in temporalio/admin-tools) before every start of the server; safe to
# repeat: `create` and `setup-schema` fail harmlessly once done, `update-schema` is the
# step that must succeed.
set -eu

: "${POSTGRES_SEEDS:=postgres}" "${DB_PORT:=5432}" "${SQL_USER:=fbchannel}"
# temporal-sql-tool reads the password from SQL_PASSWORD.
export SQL_PASSWORD

schema_dir=/etc/temporal/schema/postgresql/v12

sql() {
	temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$SQL_USER" "$@"
}

until nc -z -w 5 "$POSTGRES_SEEDS" "$DB_PORT"; do
	echo "waiting for Postgres at $POSTGRES_SEEDS:$DB_PORT..."
	sleep 2
done

for db in temporal temporal_visibility; do
	sql --db "$db" create 2>/dev/null || echo "database $db already exists"
done

sql --db temporal setup-schema -v 0.0 2>/dev/null || echo "temporal schema already set up"
sql --db temporal update-schema -d "$schema_dir/temporal/versioned"

sql --db temporal_visibility setup-schema -v 0.0 2>/dev/null || echo "visibility schema already set up"
sql --db temporal_visibility update-schema -d "$schema_dir/visibility/versioned"

echo "Temporal schemas are up to date"

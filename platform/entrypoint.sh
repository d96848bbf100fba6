#!/bin/sh
# Containers start here. Only the web container migrates, so workers and beat never race it.
set -e
if [ "$1" = "gunicorn" ]; then
    python manage.py migrate --noinput
fi
exec "$@"

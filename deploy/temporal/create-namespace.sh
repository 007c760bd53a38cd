#!/bin/sh
# Registers the namespace the worker and starter use, once the Temporal frontend answers.
# The custom search attributes (ConversationStatus, FacebookPageID, CustomerPSID, AgentID)
# are registered by the worker itself.
set -eu

: "${TEMPORAL_ADDRESS:=temporal:7233}" "${NAMESPACE:=default}" "${NAMESPACE_RETENTION:=168h}"

until temporal operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; do
	echo "waiting for Temporal at $TEMPORAL_ADDRESS..."
	sleep 2
done

if temporal operator namespace describe --address "$TEMPORAL_ADDRESS" -n "$NAMESPACE" >/dev/null 2>&1; then
	echo "namespace $NAMESPACE exists"
else
	temporal operator namespace create --address "$TEMPORAL_ADDRESS" -n "$NAMESPACE" --retention "$NAMESPACE_RETENTION"
	echo "namespace $NAMESPACE created (retention $NAMESPACE_RETENTION)"
fi

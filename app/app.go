// Package app builds the channel's two processes, once: the worker (its Temporal
// client with the tracing interceptors and the payload codec, the search
// attributes, the migrations, every workflow and activity) and the starter (the
// API handler with the codec endpoint and server spans). worker/main.go and
// starter/main.go run them from the environment (RunWorker, RunStarter); the test
// stack (app/apptest) builds the same Worker and Starter in one process. A new
// activity dependency, interceptor or endpoint is therefore wired here only.
package app

import (
	"context"
	"database/sql"
	"fmt"

	"go.temporal.io/sdk/client"

	"fbchannel/codec"
	"fbchannel/schema"
	"fbchannel/store"
	"fbchannel/tracing"
	"fbchannel/workflows"
)

// ClientOptions completes a process's Temporal client options: the tracing
// interceptors (none when tr is off or nil) carry spans through the client and
// the workers made from it, and the payload codec (nil: off) seals every payload.
func ClientOptions(o client.Options, tr *tracing.Tracing, payloads *codec.Codec) (client.Options, error) {
	interceptors, err := tr.ClientInterceptors()
	if err != nil {
		return o, err
	}
	o.Interceptors = append(o.Interceptors, interceptors...)
	o.DataConverter = payloads.DataConverter()
	return o, nil
}

// OpenDatabase creates the database dsn names when it is missing, opens it and
// applies the schema/ migrations (under an advisory lock, so replicas may race).
func OpenDatabase(ctx context.Context, dsn string) (*sql.DB, error) {
	if err := schema.EnsureDatabase(ctx, dsn); err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	if err := schema.Migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// EnsureSearchAttributes registers the search attributes the workflows set
// (ConversationStatus, FacebookPageID, CustomerPSID, AgentID) in the namespace.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	return workflows.EnsureSearchAttributes(ctx, c, namespace)
}

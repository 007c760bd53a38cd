package config

import (
	"os"
	"strings"
	"testing"
)

type processConfig struct {
	Shared
	Own string `env:"OWN" envDefault:"own"`
}

// The shared variables keep their names and defaults inside a process's struct.
func TestParseReadsSharedFieldsThroughEmbedding(t *testing.T) {
	// The defaults are under test, not the environment the tests run in.
	for _, name := range []string{"DATABASE_URL", "TEMPORAL_ADDRESS", "TEMPORAL_TASK_QUEUE", "OWN"} {
		t.Setenv(name, "") // restored after the test
		os.Unsetenv(name)
	}
	t.Setenv("SECRETS_KEY", "k")
	t.Setenv("TEMPORAL_NAMESPACE", "ns")
	var cfg processConfig
	if err := Parse(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.SecretsKey != "k" || cfg.TemporalNamespace != "ns" || cfg.Own != "own" ||
		cfg.TemporalAddress != "127.0.0.1:7233" || cfg.TaskQueue != "facebook-channel" ||
		cfg.DatabaseURL != "postgres://postgres@127.0.0.1:5432/fbchannel?sslmode=disable" {
		t.Fatalf("parsed %+v", cfg)
	}
}

func TestParseNamesAMissingRequiredVariable(t *testing.T) {
	t.Setenv("SECRETS_KEY", "")
	var cfg processConfig
	err := Parse(&cfg)
	if err == nil || !strings.HasPrefix(err.Error(), "configuration: ") || !strings.Contains(err.Error(), "SECRETS_KEY") {
		t.Fatalf("err %v", err)
	}
}

package secrets

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

func TestBoxRoundTripAndBinding(t *testing.T) {
	box, err := NewBox(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	sealed := box.Seal("page-token-123", "page:a")
	if bytes.Contains(sealed, []byte("page-token-123")) {
		t.Fatal("plaintext visible in sealed value")
	}
	got, err := box.Open(sealed, "page:a")
	if err != nil || got != "page-token-123" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := box.Open(sealed, "page:b"); err == nil {
		t.Fatal("sealed value opened under another row's associated data")
	}
}

func TestNewBoxRejectsBadKeys(t *testing.T) {
	for _, key := range []string{"", "not base64!", base64.StdEncoding.EncodeToString([]byte("short"))} {
		if _, err := NewBox(key); err == nil || !strings.Contains(err.Error(), "SECRETS_KEY") {
			t.Errorf("NewBox(%q) err = %v, want a SECRETS_KEY error", key, err)
		}
	}
}

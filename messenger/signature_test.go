package messenger

import (
	"strings"
	"testing"
)

func TestSignKnownVector(t *testing.T) {
	// Computed independently: printf '%s' '{"a":1}' | openssl dgst -sha256 -hmac secret
	got := Sign("secret", []byte(`{"a":1}`))
	want := "sha256=aa9e2e3575f5d7098b6caccd790888c36d5fdb63342a73bada2d6a51747a8494"
	if got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
}

func TestVerifySignature(t *testing.T) {
	// Facebook signs the escaped form; the decoded "ä" must not verify.
	escaped := []byte(`{"object":"page","entry":[{"id":"1","time":1,"messaging":[{"sender":{"id":"2"},"recipient":{"id":"1"},"timestamp":1,"message":{"mid":"m_1","text":"K\u00e4se"}}]}]}`)
	decoded := []byte(strings.Replace(string(escaped), `\u00e4`, "ä", 1))
	sig := Sign("s3cret", escaped)

	tests := []struct {
		name   string
		secret string
		body   []byte
		header string
		want   bool
	}{
		{"valid over raw escaped bytes", "s3cret", escaped, sig, true},
		{"upper-case hex", "s3cret", escaped, "sha256=" + strings.ToUpper(strings.TrimPrefix(sig, "sha256=")), true},
		{"re-serialised body", "s3cret", decoded, sig, false},
		{"wrong secret", "other", escaped, sig, false},
		{"empty secret", "", escaped, Sign("", escaped), false},
		{"missing header", "s3cret", escaped, "", false},
		{"no prefix", "s3cret", escaped, strings.TrimPrefix(sig, "sha256="), false},
		{"sha1 prefix", "s3cret", escaped, "sha1=" + strings.TrimPrefix(sig, "sha256="), false},
		{"truncated", "s3cret", escaped, sig[:len(sig)-2], false},
		{"not hex", "s3cret", escaped, "sha256=" + strings.Repeat("zz", 32), false},
		{"trailing space", "s3cret", escaped, sig + " ", false},
		{"body changed", "s3cret", append(append([]byte{}, escaped...), ' '), sig, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VerifySignature(tt.secret, tt.body, tt.header); got != tt.want {
				t.Errorf("VerifySignature = %v, want %v", got, tt.want)
			}
		})
	}
}

func FuzzVerifySignature(f *testing.F) {
	f.Add("secret", []byte(`{"object":"page"}`), "sha256=00")
	f.Add("", []byte{}, "")
	f.Add("k", []byte(`\u00e4`), "sha256="+strings.Repeat("a", 64))
	f.Fuzz(func(t *testing.T, secret string, body []byte, header string) {
		VerifySignature(secret, body, header)
		if secret != "" && !VerifySignature(secret, body, Sign(secret, body)) {
			t.Fatalf("own signature does not verify")
		}
	})
}

// Package messenger parses Messenger webhook deliveries and checks their
// X-Hub-Signature-256 header.
package messenger

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// SignatureHeader is the header Facebook signs webhook bodies in. The older
// SHA-1 X-Hub-Signature header is deliberately not supported.
const SignatureHeader = "X-Hub-Signature-256"

const signaturePrefix = "sha256="

// Sign returns the X-Hub-Signature-256 value Facebook sends for body.
func Sign(appSecret string, body []byte) string {
	return signaturePrefix + hex.EncodeToString(mac(appSecret, body))
}

// VerifySignature reports whether header is a valid X-Hub-Signature-256 for
// body. It must be given the raw request bytes: Facebook signs the escaped
// unicode form (\u00e4), which a decode and re-encode would not reproduce.
// An empty app secret never verifies, because anyone can compute an HMAC
// keyed with the empty string.
func VerifySignature(appSecret string, body []byte, header string) bool {
	if appSecret == "" {
		return false
	}
	hexSum, ok := strings.CutPrefix(header, signaturePrefix)
	if !ok || len(hexSum) != 2*sha256.Size {
		return false
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil {
		return false
	}
	return hmac.Equal(got, mac(appSecret, body))
}

func mac(appSecret string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(appSecret))
	h.Write(body)
	return h.Sum(nil)
}

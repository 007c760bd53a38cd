// Package secrets seals app secrets and page tokens at rest and hashes agent tokens.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// Box encrypts with AES-256-GCM; a sealed value is nonce || ciphertext.
type Box struct {
	aead cipher.AEAD
}

// NewBox takes SECRETS_KEY: base64 of exactly 32 bytes.
func NewBox(base64Key string) (*Box, error) {
	key, err := base64.StdEncoding.DecodeString(base64Key)
	if err != nil {
		return nil, errors.New("SECRETS_KEY must be base64 (e.g. `head -c32 /dev/urandom | base64`)")
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("SECRETS_KEY must decode to 32 bytes, got %d", len(key))
	}
	aead, err := NewAEAD(key)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// NewAEAD is AES-GCM under key (32 bytes: AES-256), the cipher of sealed secrets
// and of encrypted Temporal payloads (package codec).
func NewAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal encrypts plaintext. The associated data binds a sealed value to its row
// (e.g. "page:<uuid>"), so a ciphertext copied to another row does not open.
func (b *Box) Seal(plaintext, associated string) []byte {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return b.aead.Seal(nonce, nonce, []byte(plaintext), []byte(associated))
}

// Open decrypts a value made by Seal with the same associated data.
func (b *Box) Open(sealed []byte, associated string) (string, error) {
	n := b.aead.NonceSize()
	if len(sealed) < n {
		return "", errors.New("sealed secret is truncated")
	}
	plain, err := b.aead.Open(nil, sealed[:n], sealed[n:], []byte(associated))
	if err != nil {
		return "", errors.New("sealed secret does not open with SECRETS_KEY")
	}
	return string(plain), nil
}

// NewToken returns a random bearer token with a readable prefix ("agt_...").
func NewToken(prefix string) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// RandomHex returns n random bytes as hex, for verify tokens.
func RandomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// HashToken is how agent tokens are stored and looked up. Tokens carry 256 bits of
// entropy, so a fast hash is enough: there is nothing to brute-force.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// Package codec encrypts Temporal payloads (workflow and activity inputs and
// results, signal and update arguments, query answers, memos) with AES-256-GCM
// before they leave the process, so the Temporal server and its database hold
// only ciphertext, and serves a codec endpoint (/codec/encode, /codec/decode)
// through which the Temporal UI and CLI show them to operators holding the key.
//
// An encrypted payload carries the id of its key in its metadata, so keys can
// rotate: the current key encrypts, the current and any previous keys decrypt.
// Payloads that are not encrypted (written before encryption was turned on) are
// passed through by Decode, so turning it on needs no migration.
//
// Search attributes are not payloads the codec sees: Temporal must read them to
// index them. This service's search attributes are ids only.
package codec

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"

	"fbchannel/secrets"
)

// Metadata of an encrypted payload.
const (
	// MetadataEncoding is the standard payload metadata key for the encoding.
	MetadataEncoding = converter.MetadataEncoding
	// EncodingEncrypted is the encoding of an encrypted payload, as in Temporal's samples.
	EncodingEncrypted = "binary/encrypted"
	// MetadataKeyID names the key that encrypted the payload.
	MetadataKeyID = "encryption-key-id"
)

// KeySize is the key length: AES-256.
const KeySize = 32

// Codec is a converter.PayloadCodec. It is safe for concurrent use.
type Codec struct {
	currentID string
	keys      map[string]cipher.AEAD
}

var _ converter.PayloadCodec = (*Codec)(nil)

// New makes a codec that encrypts with current and decrypts with current and
// any of previous. Every key is 32 bytes.
func New(current []byte, previous ...[]byte) (*Codec, error) {
	c := &Codec{keys: map[string]cipher.AEAD{}}
	for i, key := range append([][]byte{current}, previous...) {
		if len(key) != KeySize {
			return nil, fmt.Errorf("codec: key %d is %d bytes, want %d", i, len(key), KeySize)
		}
		aead, err := secrets.NewAEAD(key)
		if err != nil {
			return nil, err
		}
		id := KeyID(key)
		if i == 0 {
			c.currentID = id
		}
		c.keys[id] = aead
	}
	return c, nil
}

// Parse reads PAYLOAD_ENCRYPTION_KEY (base64 of 32 bytes) and
// PAYLOAD_ENCRYPTION_OLD_KEYS (comma-separated, each base64 of 32 bytes; may be
// empty). An empty current key means encryption is off: (nil, nil). Errors name
// the variable and never include a key.
func Parse(current, old string) (*Codec, error) {
	current = strings.TrimSpace(current)
	if current == "" {
		if strings.TrimSpace(old) != "" {
			return nil, errors.New("configuration: PAYLOAD_ENCRYPTION_OLD_KEYS is set but PAYLOAD_ENCRYPTION_KEY is not")
		}
		return nil, nil
	}
	key, err := decodeKey(current)
	if err != nil {
		return nil, fmt.Errorf("configuration: PAYLOAD_ENCRYPTION_KEY must be base64 of %d bytes", KeySize)
	}
	var previous [][]byte
	for i, s := range strings.Split(old, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		k, err := decodeKey(s)
		if err != nil {
			return nil, fmt.Errorf("configuration: PAYLOAD_ENCRYPTION_OLD_KEYS entry %d must be base64 of %d bytes", i+1, KeySize)
		}
		previous = append(previous, k)
	}
	return New(key, previous...)
}

func decodeKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err == nil && len(key) != KeySize {
		err = errors.New("wrong length")
	}
	return key, err
}

// KeyID is a key's public name: the first 8 bytes of HMAC-SHA256(key, a fixed
// label), in hex. It tells keys apart without revealing them.
func KeyID(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("fbchannel temporal payload key id"))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// CurrentKeyID is the id of the key that encrypts.
func (c *Codec) CurrentKeyID() string { return c.currentID }

// additionalData binds a ciphertext to its key id, so the id cannot be swapped.
func additionalData(keyID string) []byte { return []byte(EncodingEncrypted + ";" + keyID) }

// Encode encrypts each payload whole (its metadata and data, as protobuf) into
// a payload of encoding binary/encrypted: a random 12-byte nonce, then the
// sealed bytes.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead := c.keys[c.currentID]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return payloads, fmt.Errorf("codec: encode: %w", err)
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return payloads, fmt.Errorf("codec: encode: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				MetadataEncoding: []byte(EncodingEncrypted),
				MetadataKeyID:    []byte(c.currentID),
			},
			Data: aead.Seal(nonce, nonce, plain, additionalData(c.currentID)),
		}
	}
	return out, nil
}

// Decode decrypts encrypted payloads and passes others through unchanged. A
// payload that was altered, or encrypted with a key this codec does not hold,
// is an error.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[MetadataEncoding]) != EncodingEncrypted {
			out[i] = p
			continue
		}
		id := string(p.Metadata[MetadataKeyID])
		aead, ok := c.keys[id]
		if !ok {
			return payloads, fmt.Errorf("codec: payload %d was encrypted with key %q, which is not configured (PAYLOAD_ENCRYPTION_KEY, PAYLOAD_ENCRYPTION_OLD_KEYS)", i, id)
		}
		if len(p.Data) < aead.NonceSize()+aead.Overhead() {
			return payloads, fmt.Errorf("codec: payload %d is too short to be encrypted", i)
		}
		nonce, sealed := p.Data[:aead.NonceSize()], p.Data[aead.NonceSize():]
		plain, err := aead.Open(nil, nonce, sealed, additionalData(id))
		if err != nil {
			return payloads, fmt.Errorf("codec: payload %d does not authenticate with key %q: it was altered or is not ours", i, id)
		}
		var decoded commonpb.Payload
		if err := proto.Unmarshal(plain, &decoded); err != nil {
			return payloads, fmt.Errorf("codec: payload %d: %w", i, err)
		}
		out[i] = &decoded
	}
	return out, nil
}

// DataConverter is Temporal's default JSON converter with this codec after it,
// for client.Options.DataConverter on every client of the namespace: the
// starter's and the worker's. On a nil codec (encryption off) it is nil, which
// client.Options takes as the default converter.
func (c *Codec) DataConverter() converter.DataConverter {
	if c == nil {
		return nil
	}
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}

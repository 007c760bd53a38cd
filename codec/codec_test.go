package codec

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func mustNew(t *testing.T, current []byte, previous ...[]byte) *Codec {
	t.Helper()
	c, err := New(current, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type message struct {
	Text string `json:"text"`
	Name string `json:"name"`
}

func TestRoundTripThroughTheDataConverter(t *testing.T) {
	c := mustNew(t, newKey(t))
	dc := c.DataConverter()
	in := message{Text: "my card number is 4111 1111", Name: "Ada Lovelace"}
	p, err := dc.ToPayload(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(p.Metadata[MetadataEncoding]); got != EncodingEncrypted {
		t.Fatalf("encoding %q, want %q", got, EncodingEncrypted)
	}
	if got := string(p.Metadata[MetadataKeyID]); got != c.CurrentKeyID() || len(got) != 16 {
		t.Fatalf("key id %q, want %q", got, c.CurrentKeyID())
	}
	wire, _ := proto.Marshal(p)
	for _, plain := range []string{"4111 1111", "Ada Lovelace", "json/plain", `"text"`} {
		if bytes.Contains(wire, []byte(plain)) {
			t.Fatalf("encrypted payload contains %q", plain)
		}
	}
	var out message
	if err := dc.FromPayload(p, &out); err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Fatalf("round trip: %+v, want %+v", out, in)
	}
	// A fresh nonce each time: the same value never encrypts the same way twice.
	p2, _ := dc.ToPayload(in)
	if bytes.Equal(p.Data, p2.Data) {
		t.Fatal("two encryptions of one value are identical")
	}
	// The payload as it was before encryption comes back whole, metadata included.
	plain, _ := converter.GetDefaultDataConverter().ToPayload(in)
	enc, err := c.Encode([]*commonpb.Payload{plain})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := c.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(dec[0], plain) {
		t.Fatalf("decoded %v, want %v", dec[0], plain)
	}
}

func TestTamperedPayloadsFail(t *testing.T) {
	c := mustNew(t, newKey(t))
	plain, _ := converter.GetDefaultDataConverter().ToPayload(message{Text: "hello"})
	encode := func() *commonpb.Payload {
		enc, err := c.Encode([]*commonpb.Payload{plain})
		if err != nil {
			t.Fatal(err)
		}
		return enc[0]
	}
	cases := map[string]func(p *commonpb.Payload){
		"flipped ciphertext byte": func(p *commonpb.Payload) { p.Data[len(p.Data)-20] ^= 1 },
		"flipped nonce byte":      func(p *commonpb.Payload) { p.Data[0] ^= 0x80 },
		"flipped tag byte":        func(p *commonpb.Payload) { p.Data[len(p.Data)-1] ^= 1 },
		"truncated":               func(p *commonpb.Payload) { p.Data = p.Data[:10] },
		"appended":                func(p *commonpb.Payload) { p.Data = append(p.Data, 0) },
		"key id removed":          func(p *commonpb.Payload) { delete(p.Metadata, MetadataKeyID) },
		"key id changed":          func(p *commonpb.Payload) { p.Metadata[MetadataKeyID] = []byte("0000000000000000") },
	}
	for name, tamper := range cases {
		p := encode()
		tamper(p)
		if _, err := c.Decode([]*commonpb.Payload{p}); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
	// A payload sealed under one key id cannot be passed off as sealed under
	// another configured key.
	other := newKey(t)
	both := mustNew(t, other, newKey(t))
	p, _ := both.Encode([]*commonpb.Payload{plain})
	rotated := mustNew(t, newKey(t), other)
	p[0].Metadata[MetadataKeyID] = []byte(rotated.CurrentKeyID())
	if _, err := rotated.Decode(p); err == nil {
		t.Error("a payload relabelled with another key id decoded")
	}
}

func TestKeysRotate(t *testing.T) {
	oldKey, newKeyBytes := newKey(t), newKey(t)
	before := mustNew(t, oldKey)
	plain, _ := converter.GetDefaultDataConverter().ToPayload("written before the rotation")
	old, err := before.Encode([]*commonpb.Payload{plain})
	if err != nil {
		t.Fatal(err)
	}
	after := mustNew(t, newKeyBytes, oldKey)
	if after.CurrentKeyID() == before.CurrentKeyID() {
		t.Fatal("two keys share an id")
	}
	dec, err := after.Decode(old)
	if err != nil {
		t.Fatalf("the old key no longer decodes: %v", err)
	}
	if !proto.Equal(dec[0], plain) {
		t.Fatal("decoded payload differs")
	}
	fresh, _ := after.Encode([]*commonpb.Payload{plain})
	if string(fresh[0].Metadata[MetadataKeyID]) != KeyID(newKeyBytes) {
		t.Fatal("the new key does not encrypt")
	}
	// Without the old key: a clear error naming the key id, not garbage.
	_, err = mustNew(t, newKeyBytes).Decode(old)
	if err == nil || !strings.Contains(err.Error(), before.CurrentKeyID()) {
		t.Fatalf("decode with a missing key: %v", err)
	}
}

func TestPlainPayloadsPassThrough(t *testing.T) {
	c := mustNew(t, newKey(t))
	plain, _ := converter.GetDefaultDataConverter().ToPayload(map[string]string{"a": "b"})
	dec, err := c.Decode([]*commonpb.Payload{plain, nil})
	if err != nil {
		t.Fatal(err)
	}
	if dec[0] != plain {
		t.Fatal("an unencrypted payload was changed")
	}
}

func TestParse(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(newKey(t))
	good2 := base64.StdEncoding.EncodeToString(newKey(t))
	if c, err := Parse("", ""); c != nil || err != nil {
		t.Fatalf("empty: %v %v", c, err)
	}
	if c, err := Parse(good, " "+good2+" ,"); err != nil || c == nil || len(c.keys) != 2 {
		t.Fatalf("good keys: %v", err)
	}
	if c := (*Codec)(nil); c.DataConverter() != nil {
		t.Fatal("a nil codec has a data converter")
	}
	short := base64.StdEncoding.EncodeToString([]byte("sixteen bytes!!!"))
	for _, bad := range []struct{ current, old, want string }{
		{"not base64!", "", "PAYLOAD_ENCRYPTION_KEY"},
		{short, "", "PAYLOAD_ENCRYPTION_KEY"},
		{good, short, "PAYLOAD_ENCRYPTION_OLD_KEYS entry 1"},
		{"", good, "PAYLOAD_ENCRYPTION_KEY is not"},
	} {
		_, err := Parse(bad.current, bad.old)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Parse(%q, %q): %v, want an error mentioning %s", bad.current, bad.old, err, bad.want)
			continue
		}
		if strings.Contains(err.Error(), good) || strings.Contains(err.Error(), short) {
			t.Errorf("the error shows a key: %v", err)
		}
	}
}

func TestHandlerDecodesWhatTheCodecEncoded(t *testing.T) {
	c := mustNew(t, newKey(t))
	const admin = "admin-token"
	const ui = "http://localhost:8233"
	h := Mount(http.NotFoundHandler(), c.Handler(ServerOptions{AdminToken: admin, CORSOrigins: []string{ui}}))
	srv := httptest.NewServer(h) // for the SDK's remote codec client
	defer srv.Close()

	plain, _ := converter.GetDefaultDataConverter().ToPayloads(message{Text: "hello", Name: "Ada"}, "second")
	enc, err := c.Encode(plain.Payloads)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(&commonpb.Payloads{Payloads: enc})
	post := func(path, token, origin string, body []byte) (*http.Response, []byte) {
		req := httptest.NewRequest("POST", path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Namespace", "default")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Result(), rec.Body.Bytes()
	}

	resp, raw := post("/codec/decode", admin, ui, body)
	if resp.StatusCode != 200 {
		t.Fatalf("decode: %d %s", resp.StatusCode, raw)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != ui || resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("CORS headers missing: %v", resp.Header)
	}
	var got commonpb.Payloads
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("answer %s: %v", raw, err)
	}
	if len(got.Payloads) != 2 || !proto.Equal(got.Payloads[0], plain.Payloads[0]) || !proto.Equal(got.Payloads[1], plain.Payloads[1]) {
		t.Fatalf("decoded %v, want %v", got.Payloads, plain.Payloads)
	}
	var m message
	if err := converter.GetDefaultDataConverter().FromPayload(got.Payloads[0], &m); err != nil || m.Text != "hello" {
		t.Fatalf("decoded payload: %+v %v", m, err)
	}

	// The SDK's own remote codec client speaks the same protocol, both ways.
	remote := converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{
		Endpoint:      srv.URL + Prefix,
		ModifyRequest: func(r *http.Request) error { r.Header.Set("Authorization", "Bearer "+admin); return nil },
	})
	viaHTTP, err := remote.Encode(plain.Payloads)
	if err != nil {
		t.Fatal(err)
	}
	if string(viaHTTP[0].Metadata[MetadataEncoding]) != EncodingEncrypted {
		t.Fatalf("/codec/encode did not encrypt: %v", viaHTTP[0].Metadata)
	}
	back, err := c.Decode(viaHTTP)
	if err != nil || !proto.Equal(back[1], plain.Payloads[1]) {
		t.Fatalf("decode what /codec/encode made: %v", err)
	}
	if back, err := remote.Decode(enc); err != nil || !proto.Equal(back[0], plain.Payloads[0]) {
		t.Fatalf("remote decode: %v", err)
	}

	// No token, a wrong token: 401, and the CORS headers let the UI read why.
	for _, token := range []string{"", "wrong", admin + "x"} {
		if resp, raw := post("/codec/decode", token, ui, body); resp.StatusCode != 401 || !strings.Contains(string(raw), "unauthorized") ||
			resp.Header.Get("Access-Control-Allow-Origin") != ui {
			t.Fatalf("token %q: %d %s", token, resp.StatusCode, raw)
		}
	}
	// A tampered payload: 400, not garbage.
	enc[0].Data[len(enc[0].Data)-1] ^= 1
	tampered, _ := json.Marshal(&commonpb.Payloads{Payloads: enc})
	if resp, raw := post("/codec/decode", admin, "", tampered); resp.StatusCode != 400 {
		t.Fatalf("tampered: %d %s", resp.StatusCode, raw)
	}
	// Other origins get no CORS headers; unknown paths are 404, GET is 405.
	if resp, _ := post("/codec/decode", admin, "https://evil.example", body); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS allowed for another origin")
	}
	if resp, _ := post("/codec/other", admin, "", body); resp.StatusCode != 404 {
		t.Fatalf("unknown path: %d", resp.StatusCode)
	}
	if resp, err := http.Get(srv.URL + "/codec/decode"); err != nil || resp.StatusCode != 405 {
		t.Fatalf("GET: %v %v", resp, err)
	}
	// Everything else goes to the wrapped handler.
	if resp, err := http.Get(srv.URL + "/codecs"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("/codecs: %v %v", resp, err)
	}
}

func TestPreflight(t *testing.T) {
	c := mustNew(t, newKey(t))
	h := c.Handler(ServerOptions{AdminToken: "t", CORSOrigins: []string{"http://localhost:8233"}})
	preflight := func(origin string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("OPTIONS", "/codec/decode", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,x-namespace")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	rec := preflight("http://localhost:8233")
	if rec.Code != 204 || rec.Header().Get("Access-Control-Allow-Origin") != "http://localhost:8233" ||
		!strings.Contains(rec.Header().Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(rec.Header().Get("Access-Control-Allow-Headers"), "X-Namespace") {
		t.Fatalf("allowed preflight: %d %v", rec.Code, rec.Header())
	}
	if rec := preflight("http://localhost:9999"); rec.Code != 403 || rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("other origin's preflight: %d %v", rec.Code, rec.Header())
	}
}

func TestParseOrigins(t *testing.T) {
	got, err := ParseOrigins(" http://localhost:8233, https://temporal.example.com/ ")
	if err != nil || len(got) != 2 || got[0] != "http://localhost:8233" || got[1] != "https://temporal.example.com" {
		t.Fatalf("%v %v", got, err)
	}
	if got, err := ParseOrigins(""); err != nil || got != nil {
		t.Fatalf("empty: %v %v", got, err)
	}
	for _, bad := range []string{"*", "localhost:8233", "http://x/path", "ftp://x"} {
		if _, err := ParseOrigins(bad); err == nil || !strings.Contains(err.Error(), "CODEC_CORS_ORIGIN") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestAKeyOfTheWrongSizeIsRefused(t *testing.T) {
	if _, err := New(make([]byte, 16)); err == nil {
		t.Fatal("a 16-byte key was accepted")
	}
	if _, err := New(newKey(t), make([]byte, 31)); err == nil {
		t.Fatal("a 31-byte old key was accepted")
	}
}

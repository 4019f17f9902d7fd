package smsbridge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/takecare-network/takecare/node/smsbridge"
)

// The gateway backend speaks the app's local API: sending is a POST to
// /message with basic authentication; a received SMS comes to the webhook,
// which refuses a wrong token.
func TestGateway(t *testing.T) {
	t.Parallel()
	var (
		mu   sync.Mutex
		sent []map[string]any
	)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if r.URL.Path != "/message" || !ok || u != "sms" || p != "secret" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		var m map[string]any
		json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		sent = append(sent, m)
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer app.Close()
	g := &smsbridge.Gateway{URL: app.URL, User: "sms", Password: "secret", Listen: "127.0.0.1:0", Token: "0123456789abcdef0123"}
	if err := g.Send(context.Background(), "+525550001111", "takecare PANICO"); err != nil {
		t.Fatal(err)
	}
	if len(sent) != 1 || sent[0]["message"] != "takecare PANICO" || sent[0]["phoneNumbers"].([]any)[0] != "+525550001111" {
		t.Fatalf("the app got %v", sent)
	}
	bad := &smsbridge.Gateway{URL: app.URL, User: "sms", Password: "wrong"}
	if err := bad.Send(context.Background(), "+525550001111", "x"); err == nil {
		t.Fatal("a refused send did not fail")
	}

	addr := make(chan string, 1)
	g.OnReady(func(a string) { addr <- a })
	got := make(chan smsbridge.Incoming, 2)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Receive(ctx, func(in smsbridge.Incoming) { got <- in }) }()
	base := "http://" + <-addr + "/sms/"
	body := []byte(`{"event":"sms:received","id":"w1","payload":{"messageId":"m1","message":"LLEGUÉ 123456","phoneNumber":"+5219511234567","receivedAt":"2026-11-30T12:00:00Z"}}`)
	if resp, err := http.Post(base+"wrong-token-0000000", "application/json", bytes.NewReader(body)); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("wrong token: %v %v", resp, err)
	}
	if resp, err := http.Post(base+g.Token, "application/json", bytes.NewReader(body)); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("webhook: %v %v", resp, err)
	}
	select {
	case in := <-got:
		if in.From != "+5219511234567" || in.Text != "LLEGUÉ 123456" || in.Key != "m1" || !in.Sent.Equal(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)) {
			t.Fatalf("received %+v", in)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing received")
	}
	if len(got) != 0 {
		t.Fatal("the wrong token's SMS was received")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

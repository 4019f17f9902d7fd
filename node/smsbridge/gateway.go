package smsbridge

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Gateway is a [Backend] on the local server of the Android app "SMS
// Gateway for Android" (sms-gate.app): an Android phone on the same network
// sends and receives the SMS. The bridge sends with POST URL/message
// ({"message", "phoneNumbers"}, HTTP basic authentication), and the app
// reports each received SMS to a webhook (event "sms:received") at
// http://LISTEN/sms/TOKEN, which Receive serves (docs/GUIDE.md, "SMS
// bridge").
type Gateway struct {
	URL      string // the app's local server, e.g. http://192.168.1.20:8080
	User     string
	Password string
	// Listen is the address the webhook is served on; Token is the last
	// part of its path, a secret that the app's webhook URL carries.
	Listen string
	Token  string
	Client *http.Client // nil: one with a 20 s timeout

	// ready, if set, receives the webhook's address once it listens.
	ready func(addr string)
}

var _ Backend = (*Gateway)(nil)

// maxWebhook bounds a webhook request.
const maxWebhook = 64 << 10

// Send asks the app to send an SMS.
func (g *Gateway) Send(ctx context.Context, number, text string) error {
	body, _ := json.Marshal(map[string]any{"message": text, "phoneNumbers": []string{number}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(g.URL, "/")+"/message", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("smsbridge: gateway: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(g.User, g.Password)
	c := g.Client
	if c == nil {
		c = &http.Client{Timeout: 20 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("smsbridge: gateway: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxWebhook))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("smsbridge: gateway answered %s", resp.Status)
	}
	return nil
}

// webhook is the part of the app's webhook body the bridge reads.
type webhook struct {
	Event   string `json:"event"`
	ID      string `json:"id"`
	Payload struct {
		MessageID   string    `json:"messageId"`
		Message     string    `json:"message"`
		PhoneNumber string    `json:"phoneNumber"`
		ReceivedAt  time.Time `json:"receivedAt"`
	} `json:"payload"`
}

// Receive serves the webhook until ctx ends.
func (g *Gateway) Receive(ctx context.Context, fn func(Incoming)) error {
	if len(g.Token) < 16 {
		return errors.New("smsbridge: the gateway webhook needs a token of at least 16 characters")
	}
	l, err := net.Listen("tcp", g.Listen)
	if err != nil {
		return fmt.Errorf("smsbridge: gateway webhook: %w", err)
	}
	if g.ready != nil {
		g.ready(l.Addr().String())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /sms/{token}", func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.PathValue("token")), []byte(g.Token)) != 1 {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		var h webhook
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxWebhook)).Decode(&h); err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if h.Event == "sms:received" {
			key := h.Payload.MessageID
			if key == "" {
				key = h.ID
			}
			fn(Incoming{From: h.Payload.PhoneNumber, Text: h.Payload.Message, Sent: h.Payload.ReceivedAt, Key: key})
		}
		w.WriteHeader(http.StatusNoContent)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

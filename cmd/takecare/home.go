package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/hooks"
	"github.com/takecare-network/takecare/node/smsbridge"
	"github.com/takecare-network/takecare/store"
)

// home is a profile folder. Nothing in it holds names, places or message
// text in clear: the keystore and the store are sealed, the config holds
// addresses only.
type home struct{ dir string }

func (h home) keys() string   { return filepath.Join(h.dir, "keys") }
func (h home) store() string  { return filepath.Join(h.dir, "store.db") }
func (h home) config() string { return filepath.Join(h.dir, "config.json") }
func (h home) token() string  { return filepath.Join(h.dir, "api.token") }
func (h home) socket() string { return filepath.Join(h.dir, "api.sock") }

// webSessions holds the web UI's sessions (hashes only) and PIN (Argon2id).
func (h home) webSessions() string { return filepath.Join(h.dir, "web-sessions.json") }

func (h home) exists() bool {
	_, err := os.Stat(h.keys())
	return err == nil
}

func (h home) mustExist() error {
	if !h.exists() {
		return node.Errorf(node.KindNotFound, "no profile in %s (create one with: takecare init --home %s --name NAME)", h.dir, h.dir)
	}
	return nil
}

// config is the daemon's saved settings.
type config struct {
	// Listen are the multiaddrs the node listens on. After the first run
	// they hold the ports actually used, so that members find the node at
	// the same place after a restart.
	Listen []string `json:"listen,omitempty"`
	// API is an optional loopback address for the web UI and scripts.
	API string `json:"api,omitempty"`
	// MDNS turns local network discovery on or off (default on).
	MDNS *bool `json:"mdns,omitempty"`
	// Hooks are shell commands run for each new feed entry (node/hooks);
	// HookTimeout bounds one run, as a Go duration ("30s").
	Hooks       []string `json:"hooks,omitempty"`
	HookTimeout string   `json:"hook_timeout,omitempty"`
	// SMS makes this node an SMS bridge (node/smsbridge).
	SMS *smsConfig `json:"sms,omitempty"`
	// Relay makes the node a relay for its groups' member nodes behind
	// NAT (takecare run --relay), with optional limits.
	Relay *relayConfig `json:"relay,omitempty"`
	// Metrics is an optional loopback address where the daemon serves
	// counters for its operator (connections, relay use), in the
	// Prometheus text format.
	Metrics string `json:"metrics,omitempty"`
}

// smsConfig says how this node reaches SMS: gammu-smsd's spool folders,
// or the local server of SMS Gateway for Android.
type smsConfig struct {
	Backend string `json:"backend"` // "gammu" or "gateway"
	// gammu
	Inbox  string `json:"inbox,omitempty"`
	Outbox string `json:"outbox,omitempty"`
	// gateway; the password may instead be in $TAKECARE_SMS_PASSWORD.
	URL      string `json:"url,omitempty"`
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty"`
	Listen   string `json:"listen,omitempty"` // the webhook's address
	Token    string `json:"token,omitempty"`  // the webhook's secret path
	// Zone is the time zone of the times members write ("18:00"), an
	// IANA name; default the system's.
	Zone string `json:"zone,omitempty"`
}

// backend returns the configured SMS backend and time zone.
func (c *smsConfig) backend(getenv func(string) string) (smsbridge.Backend, *time.Location, error) {
	loc := time.Local
	if c.Zone != "" {
		l, err := time.LoadLocation(c.Zone)
		if err != nil {
			return nil, nil, fmt.Errorf("sms zone %q: %v", c.Zone, err)
		}
		loc = l
	}
	switch c.Backend {
	case "gammu":
		if c.Inbox == "" || c.Outbox == "" {
			return nil, nil, errors.New(`sms: the gammu backend needs "inbox" and "outbox" (gammu-smsd's inboxpath and outboxpath)`)
		}
		for _, d := range []string{c.Inbox, c.Outbox} {
			if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
				return nil, nil, fmt.Errorf("sms: %s is not a folder (gammu-smsd's inboxpath and outboxpath must exist)", d)
			}
		}
		return &smsbridge.Gammu{Inbox: c.Inbox, Outbox: c.Outbox, Location: loc}, loc, nil
	case "gateway":
		pw := c.Password
		if p := getenv("TAKECARE_SMS_PASSWORD"); p != "" {
			pw = p
		}
		if c.URL == "" || c.Listen == "" || len(c.Token) < 16 {
			return nil, nil, errors.New(`sms: the gateway backend needs "url", "listen" and a "token" of at least 16 characters`)
		}
		return &smsbridge.Gateway{URL: c.URL, User: c.User, Password: pw, Listen: c.Listen, Token: c.Token}, loc, nil
	}
	return nil, nil, fmt.Errorf(`sms: backend %q is not "gammu" or "gateway"`, c.Backend)
}

// relayConfig is the "relay" object of config.json. Zero fields take the
// defaults of node.RelayConfig.
type relayConfig struct {
	Enabled         bool   `json:"enabled"`
	MaxReservations int    `json:"max_reservations,omitempty"`
	MaxCircuits     int    `json:"max_circuits,omitempty"`
	MaxPerIP        int    `json:"max_reservations_per_ip,omitempty"`
	MaxPerGrant     int    `json:"max_nodes_per_grant,omitempty"`
	ReservationTTL  string `json:"reservation_ttl,omitempty"` // a Go duration, e.g. "1h"
}

// node returns the node's relay settings, nil when the node is no relay.
func (r *relayConfig) node() (*node.RelayConfig, error) {
	if r == nil || !r.Enabled {
		return nil, nil
	}
	c := &node.RelayConfig{MaxReservations: r.MaxReservations, MaxCircuits: r.MaxCircuits, MaxReservationsPerIP: r.MaxPerIP, MaxNodesPerGrant: r.MaxPerGrant}
	for _, v := range []int{r.MaxReservations, r.MaxCircuits, r.MaxPerIP, r.MaxPerGrant} {
		if v < 0 {
			return nil, fmt.Errorf("relay limits in config.json must not be negative (got %d)", v)
		}
	}
	if r.ReservationTTL != "" {
		d, err := time.ParseDuration(r.ReservationTTL)
		if err != nil || d < time.Minute {
			return nil, fmt.Errorf("relay reservation_ttl %q in config.json: give a duration of at least 1m, e.g. \"1h\"", r.ReservationTTL)
		}
		c.ReservationTTL = d
	}
	return c, nil
}

// hooks returns the settings of the config's hooks and of extra ones, with
// timeout (if not zero) instead of the config's, or an error naming what
// is wrong.
func (c config) hooks(extra []string, timeout time.Duration) ([]hooks.Config, error) {
	if c.HookTimeout != "" && timeout == 0 {
		d, err := time.ParseDuration(c.HookTimeout)
		if err != nil {
			return nil, fmt.Errorf("hook timeout %q: %v", c.HookTimeout, err)
		}
		timeout = d
	}
	var out []hooks.Config
	for _, cmd := range append(slices.Clip(c.Hooks), extra...) {
		hc := hooks.Config{Command: cmd, Timeout: timeout}
		if _, err := hooks.New(hc); err != nil {
			return nil, err
		}
		out = append(out, hc)
	}
	return out, nil
}

// mdns reports whether local network discovery is on.
func (c config) mdns() bool { return c.MDNS == nil || *c.MDNS }

// createProfile makes a new member identity and storage key, seals them
// in the keystore under pass and returns the keystore open.
func (h home) createProfile(name string, pass []byte) (*crypto.Keystore, error) {
	id, err := crypto.NewIdentity(name)
	if err != nil {
		return nil, err
	}
	return crypto.CreateKeystore(h.keys(), pass, crypto.Profile{Identity: id, StorageKey: crypto.NewStorageKey()}, crypto.DefaultKeystoreParams)
}

// destroy destroys the keystore and wipes the store.
func (h home) destroy() error {
	if err := crypto.DestroyKeystore(h.keys()); err != nil {
		return err
	}
	return store.Wipe(h.store())
}

// errBadConfig means config.json is not valid JSON.
var errBadConfig = errors.New("not valid JSON")

func (h home) loadConfig() (config, error) {
	var c config
	b, err := os.ReadFile(h.config())
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s is %w (%v): fix it, or run takecare repair --home %s to set it aside", h.config(), errBadConfig, err, h.dir)
	}
	return c, nil
}

func (h home) saveConfig(c config) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp := h.config() + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, h.config())
}

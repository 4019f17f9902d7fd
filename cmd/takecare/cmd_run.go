package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/api"
	"github.com/takecare-network/takecare/node/hooks"
	"github.com/takecare-network/takecare/node/smsbridge"
	"github.com/takecare-network/takecare/store"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

// daemonGCPercent is the daemon's GOGC.
const daemonGCPercent = 50

func cmdRun(ctx context.Context, e *env, args []string) error {
	f := newFlags("run", e)
	var listen multiFlag
	f.Var(&listen, "listen", "multiaddr to listen on (repeat for several)")
	apiAddr := f.String("api", "", "also serve the API and web UI on this loopback address, e.g. 127.0.0.1:7420")
	mdnsOn := f.Bool("mdns", true, "find member nodes on the local network")
	verbose := f.Bool("verbose", false, "show the node's logs instead of a short summary")
	var hookCmds multiFlag
	f.Var(&hookCmds, "hook", "run this shell command for each new alert, alarm or answer, with it as JSON on stdin (repeat for several)")
	hookTimeout := f.Duration("hook-timeout", 0, "how long one run of a hook may take (default 30s)")
	relayOn := f.Bool("relay", false, "relay for your groups' member nodes behind NAT (an always-on node with a public address)")
	metricsAddr := f.String("metrics", "", "serve counters (connections, relay use) for monitoring on this loopback address, e.g. 127.0.0.1:9421")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if err := applyLabPublicNets(e.getenv); err != nil {
		return err
	}
	h, err := f.profile()
	if err != nil {
		return err
	}
	cfg, err := h.loadConfig()
	if err != nil {
		return err
	}
	f.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "api":
			cfg.API = *apiAddr
		case "mdns":
			cfg.MDNS = mdnsOn
		case "relay":
			if cfg.Relay == nil {
				cfg.Relay = &relayConfig{}
			}
			cfg.Relay.Enabled = *relayOn
		case "metrics":
			cfg.Metrics = *metricsAddr
		}
	})
	relay, err := cfg.Relay.node()
	if err != nil {
		return err
	}
	if len(listen) > 0 {
		cfg.Listen = listen
	}
	// Hooks given on the command line run besides those of the config,
	// for this run only.
	hookCfgs, err := cfg.hooks(hookCmds, *hookTimeout)
	if err != nil {
		return err
	}
	var smsBackend smsbridge.Backend
	var smsZone *time.Location
	if cfg.SMS != nil {
		if smsBackend, smsZone, err = cfg.SMS.backend(e.getenv); err != nil {
			return err
		}
	}
	for flag, a := range map[string]string{"--api": cfg.API, "--metrics": cfg.Metrics} {
		if a == "" {
			continue
		}
		if err := checkLoopback(flag, a); err != nil {
			return err
		}
	}
	if err := checkNotRunning(ctx, h); err != nil {
		return err
	}
	pass, err := f.passphrase("Passphrase", false)
	if err != nil {
		return err
	}
	ks, err := crypto.OpenKeystore(h.keys(), pass)
	if err == nil && ks.Duress() != nil {
		// Opened under duress: warn the groups, destroy the real profile,
		// and go on with an empty one under the same name and passphrase,
		// at new ports and with a new web UI token. Nothing printed
		// differs from a normal start.
		ks, err = duress(ctx, h, &cfg, ks, pass, len(listen) > 0, f.given("api"))
	}
	clear(pass)
	if err != nil {
		return err
	}
	defer ks.Close()
	prof := ks.Profile()
	// Opening the keystore ran Argon2id over 64 MiB for each of its two
	// slots (a start under duress, once more to seal the new profile).
	// Hand that memory back to the system now (FreeOSMemory collects
	// first): left to the garbage collector, an idle daemon keeps it for
	// minutes.
	debug.FreeOSMemory()
	// The daemon's live heap is a few megabytes; the garbage collector's
	// default (GOGC=100) lets the heap grow to twice that before it runs.
	// At half (GOGC=50) an idle daemon in a group of 30 holds about 4 MB
	// less, for a little more collecting when alerts arrive
	// (docs/BENCHMARKS.md). GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(daemonGCPercent)
	}
	log := daemonLogger(e.stderr, *verbose)
	st, err := store.Open(h.store(), prof.StorageKey, store.Options{})
	var damaged *store.DamagedError
	switch {
	case errors.Is(err, store.ErrInUse):
		return node.Errorf(node.KindConflict, "another takecare daemon is already running for %s", h.dir)
	case errors.As(err, &damaged):
		return fmt.Errorf("the message store %s is damaged (%s). Your keys are safe: run takecare repair --home %s — it sets the damaged file aside, keeps what can still be read, and your node then fetches the rest from your groups' members",
			damaged.Path, damaged.Detail, h.dir)
	case err != nil:
		return err
	}
	defer st.Close()
	n, err := node.New(node.Config{
		Identity:    prof.Identity,
		Store:       st,
		ListenAddrs: cfg.Listen,
		Logger:      log,
		MDNS:        cfg.mdns(),
		Relay:       relay,
	})
	if err != nil {
		return err
	}
	defer n.Close()
	cfg.Listen = savedListen(n.Listening(), cfg.Listen)
	if err := h.saveConfig(cfg); err != nil {
		log.Warn("saving the config", "err", err)
	}

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	kitDone := keepDuressKit(ctx, ks, n, log)
	defer func() { stop(); <-kitDone }()
	// One server for both listeners: the unix socket serves the API
	// without a token; the loopback TCP listener serves the web UI and the
	// API with the token.
	var token string
	var tcp net.Listener
	if cfg.API != "" {
		if token, err = apiToken(h); err != nil {
			return err
		}
		if tcp, err = net.Listen("tcp", cfg.API); err != nil {
			return fmt.Errorf("listening for the API on %s: %w", cfg.API, err)
		}
		if cfg.API != tcp.Addr().String() {
			// A port the system picked (after a duress start): keep it.
			cfg.API = tcp.Addr().String()
			if err := h.saveConfig(cfg); err != nil {
				log.Warn("saving the config", "err", err)
			}
		}
	}
	srv := api.NewServer(n, log, token, stop)
	if smsBackend != nil {
		br, err := smsbridge.New(smsbridge.Config{Node: n, Store: st, Backend: smsBackend, Location: smsZone, Logger: log})
		if err != nil {
			return err
		}
		srv.EnableSMS(br)
		go func() {
			if err := br.Run(ctx); err != nil {
				log.Error("the SMS bridge stopped", "err", err)
			}
		}()
	}
	if tcp != nil {
		// The web UI keeps a browser signed in, and a browser that lost
		// its session pairs again with a PIN or the profile's passphrase
		// (never the duress one).
		err := srv.EnableSessions(h.webSessions(), func(p []byte) bool {
			return crypto.VerifyPassphrase(h.keys(), p) == nil
		})
		if err != nil {
			tcp.Close()
			return err
		}
	}
	sock, err := listenUnix(h.socket())
	if err != nil {
		if tcp != nil {
			tcp.Close()
		}
		return err
	}
	defer os.Remove(h.socket())
	errc := make(chan error, 4)
	go func() { errc <- srv.Serve(ctx, sock) }()
	web := ""
	if tcp != nil {
		go func() { errc <- srv.Serve(ctx, tcp) }()
		web = webURL("http://"+tcp.Addr().String()+"/", token)
	}
	if cfg.Metrics != "" {
		ml, err := net.Listen("tcp", cfg.Metrics)
		if err != nil {
			return fmt.Errorf("listening for metrics on %s: %w", cfg.Metrics, err)
		}
		go func() { errc <- serveMetrics(ctx, ml, n.Status) }()
	}
	startHooks(ctx, n, hookCfgs, log)
	go func() { errc <- n.Run(ctx) }()
	startSummary(e.stderr, f, n.Status(), web, *verbose)
	if !*verbose {
		go watchPeers(ctx, e.stderr, n, 5*time.Second)
	}

	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil {
			stop()
			return err
		}
	}
	stop()
	fmt.Fprintln(e.stderr, "stopping")
	return nil
}

// startHooks runs each hook for the node's new feed entries until ctx
// ends (node/hooks).
func startHooks(ctx context.Context, n *node.Node, cfgs []hooks.Config, log *slog.Logger) {
	for _, c := range cfgs {
		c.Logger = log
		r, err := hooks.New(c)
		if err != nil {
			continue // checked by config.hooks
		}
		f := n.Follow(node.FeedQuery{})
		go func() {
			defer f.Stop()
			r.Run(ctx, f.C)
		}()
	}
}

// savedListen is what the config keeps of the listen addresses: each one
// as the node bound it (port 0 replaced by the port it got, so that a
// restart listens at the same place), or, where the node had to fall back
// or could not listen at all, as it was configured, so that the next start
// tries it again. It never saves nothing, and never a relay address.
func savedListen(ls []node.Listen, configured []string) []string {
	var out []string
	for _, l := range ls {
		if l.Got != "" && !l.Moved {
			out = append(out, l.Got)
		} else {
			out = append(out, l.Want)
		}
	}
	if len(out) == 0 {
		return configured
	}
	return out
}

func checkLoopback(flag, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s %s: %v", flag, addr, err)
	}
	ip := net.ParseIP(host)
	if host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("%s %s: takecare only listens on a loopback address here (127.0.0.1 or ::1)", flag, addr)
}

// checkNotRunning fails if a daemon already answers on the home's socket,
// and removes a socket left by a daemon that crashed.
func checkNotRunning(ctx context.Context, h home) error {
	if !api.SocketExists(h.dir) {
		return nil
	}
	if api.NewClient(h.dir).Running(ctx) {
		return node.Errorf(node.KindConflict, "a takecare daemon is already running for %s", h.dir)
	}
	os.Remove(h.socket())
	return nil
}

// listenUnix listens on a unix socket that only the owner can use.
func listenUnix(path string) (net.Listener, error) {
	old := syscall.Umask(0o177)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func apiToken(h home) (string, error) {
	if b, err := os.ReadFile(h.token()); err == nil && len(b) >= 32 {
		return strings.TrimSpace(string(b)), nil
	}
	b := make([]byte, 24)
	rand.Read(b)
	t := hex.EncodeToString(b)
	if err := os.WriteFile(h.token(), []byte(t+"\n"), 0o600); err != nil {
		return "", err
	}
	return t, nil
}

// duressTimeout bounds how long a duress start waits for every group to
// be warned before wiping anyway.
const duressTimeout = 20 * time.Second

// duress runs the duress node just long enough to warn the groups named in
// the kit (node.RaiseDuress), then wipes the real profile and creates an
// empty one with the same name, sealed under the passphrase that was
// given. The web UI token is replaced, and so are the saved ports (the
// listen ports, and the web UI's unless listenGiven or apiGiven say they
// were given on this command line), so that nothing answers where the
// real profile did.
func duress(ctx context.Context, h home, cfg *config, ks *crypto.Keystore, pass []byte, listenGiven, apiGiven bool) (*crypto.Keystore, error) {
	kit := ks.Duress()
	rctx, cancel := context.WithTimeout(ctx, duressTimeout)
	node.RaiseDuress(rctx, kit, node.DuressOptions{})
	cancel()
	ks.Close()
	if err := h.destroy(); err != nil {
		return nil, err
	}
	if err := os.Remove(h.token()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if !listenGiven {
		cfg.Listen = anyPort(cfg.Listen)
	}
	if !apiGiven && cfg.API != "" {
		if host, _, err := net.SplitHostPort(cfg.API); err == nil {
			cfg.API = net.JoinHostPort(host, "0")
		}
	}
	if err := h.saveConfig(*cfg); err != nil {
		return nil, err
	}
	return h.createProfile(kit.Name, pass)
}

// anyPort replaces the TCP and UDP ports in multiaddrs with 0, so that the
// system picks new ones.
func anyPort(addrs []string) []string {
	var out []string
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			continue
		}
		var parts []string
		ma.ForEach(a, func(c ma.Component) bool {
			v := c.Value()
			if c.Protocol().Code == ma.P_TCP || c.Protocol().Code == ma.P_UDP {
				v = "0"
			}
			parts = append(parts, "/"+c.Protocol().Name)
			if c.Protocol().Size != 0 {
				parts = append(parts, "/"+v)
			}
			return true
		})
		out = append(out, strings.Join(parts, ""))
	}
	return out
}

// kitInterval is how often the daemon checks whether the duress kit's list
// of member nodes to warn needs updating. Checking costs little; the
// keystore is rewritten only when the list changed.
const kitInterval = 5 * time.Second

// keepDuressKit keeps the keystore's duress kit naming, for each group,
// member nodes that can be reached: once before it returns, then whenever
// the list changes (checked every kitInterval) until ctx ends, and once
// more then. It stops if the keystore was changed by another command
// (takecare duress). The returned channel is closed when it has stopped.
func keepDuressKit(ctx context.Context, ks *crypto.Keystore, n *node.Node, log *slog.Logger) <-chan struct{} {
	done := make(chan struct{})
	// What the keystore holds already: a start that finds the same list
	// writes nothing more.
	last := fmt.Sprint(ks.DuressTargets())
	// update writes the list if it changed, and reports whether to go on.
	update := func() bool {
		ts := n.DuressTargets()
		key := fmt.Sprint(ts)
		if key == last {
			return true
		}
		switch err := ks.SetDuressTargets(ts); {
		case errors.Is(err, crypto.ErrKeystoreChanged):
			log.Warn("the keystore was changed by another command; restart the daemon to keep the duress warning's list of nodes up to date")
			return false
		case err != nil:
			log.Warn("updating the keystore", "err", err)
		default:
			last = key
		}
		return true
	}
	if !update() {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		t := time.NewTicker(kitInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				update()
				return
			case <-t.C:
				if !update() {
					return
				}
			}
		}
	}()
	return done
}

package replica

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// EmbeddedOptions configure the NATS server sheetsync runs itself when no --nats URL is given:
// one process behaves as a cluster of one, with a durable journal in its state dir.
type EmbeddedOptions struct {
	// StoreDir holds JetStream's files (the stream and its snapshots).
	StoreDir string
	// Listen makes the server reachable on Host:Port (Port -1 for a random one, as tests use);
	// without it the server takes no network connections and the process talks to it in memory.
	Listen bool
	Host   string
	Port   int
	// Name identifies the server in JetStream; it must be stable across restarts of one store.
	Name string
}

// Embedded is a running embedded NATS server.
type Embedded struct {
	ns *server.Server
}

// StartEmbedded starts a NATS server with JetStream and waits until it takes connections.
func StartEmbedded(o EmbeddedOptions) (*Embedded, error) {
	name := o.Name
	if name == "" {
		name = "sheetsync"
	}
	opts := &server.Options{
		ServerName: name,
		JetStream:  true,
		StoreDir:   o.StoreDir,
		Host:       o.Host,
		Port:       o.Port,
		DontListen: !o.Listen,
		NoSigs:     true, // sheetsync handles signals itself
		NoLog:      true,
		MaxPayload: MaxMessage, // changes up to MaxInline travel in their message
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded NATS server in %s did not start within 10 s", o.StoreDir)
	}
	return &Embedded{ns: ns}, nil
}

// Connect returns a client connection to the server: in memory, or over loopback when it
// listens.
func (e *Embedded) Connect(opts ...nats.Option) (*nats.Conn, error) {
	if e.ns.Addr() == nil {
		opts = append(opts, nats.InProcessServer(e.ns))
		return nats.Connect("", opts...)
	}
	return nats.Connect(e.ns.ClientURL(), opts...)
}

// URL is the server's client URL, "" when it does not listen.
func (e *Embedded) URL() string {
	if e.ns.Addr() == nil {
		return ""
	}
	return e.ns.ClientURL()
}

// Shutdown stops the server and waits for it to finish.
func (e *Embedded) Shutdown() {
	e.ns.Shutdown()
	e.ns.WaitForShutdown()
}

// MaxStore is how much JetStream may store on this server's disk: 75% of the space free when
// it started, as nats-server decides for a server not told. A stream that reserves more (its
// MaxBytes) cannot be created.
func (e *Embedded) MaxStore() int64 {
	if cfg := e.ns.JetStreamConfig(); cfg != nil {
		return cfg.MaxStore
	}
	return 0
}

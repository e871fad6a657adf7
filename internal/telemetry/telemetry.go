// Package telemetry serves the agent's operational endpoints: Prometheus
// metrics on /metrics, liveness on /healthz, readiness on /readyz, the
// pipelines' file status as JSON on /status and, only when enabled, the Go
// profiler on /debug/pprof/.
package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server is the HTTP endpoint. It is created by New, binds its address in
// Listen and serves in Run.
type Server struct {
	listen string
	srv    *http.Server
	log    *slog.Logger
	ln     net.Listener // set by Listen
	// maxConns caps concurrent connections (see limitListener).
	maxConns int
}

// Limits of the endpoint, so that local clients cannot exhaust the agent's
// descriptors or memory (#11 item 12): a request must arrive within
// readTimeout (its header within ReadHeaderTimeout), a response be written
// within writeTimeout (pprofWriteTimeout with pprof on, for 60 s
// profiles), an idle keep-alive connection is closed after idleTimeout, at
// most maxConns connections are open at once, and a request carries at
// most maxHeaderBytes of header and maxBodyBytes of body (every path is a
// GET).
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	pprofWriteTimeout = 65 * time.Second
	idleTimeout       = 30 * time.Second
	maxConns          = 64
	maxHeaderBytes    = 16 << 10
	maxBodyBytes      = 4 << 10
)

// ReadyFunc reports why the agent is not ready, or nil when it is. It is
// called from HTTP handler goroutines.
type ReadyFunc func() error

// Options configure the endpoint. Listen, Gatherer and Ready are required.
type Options struct {
	Listen   string // host:port
	Gatherer prometheus.Gatherer
	Ready    ReadyFunc
	// Status returns the document served as JSON on /status; nil disables
	// the path. Called from HTTP handler goroutines.
	Status func() any
	// PProf serves net/http/pprof under /debug/pprof/ (off by default: it
	// exposes internals and can be made to burn CPU).
	PProf  bool
	Logger *slog.Logger
}

// New builds the server. It opens no socket.
func New(o Options) *Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := o.Ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	if o.Status != nil {
		mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			_ = enc.Encode(o.Status()) // a failed write means the client went away
		})
	}
	if o.PProf {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	write := writeTimeout
	if o.PProf {
		write = pprofWriteTimeout
	}
	return &Server{
		listen: o.Listen,
		srv: &http.Server{
			Handler:           http.MaxBytesHandler(mux, maxBodyBytes),
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       readTimeout,
			WriteTimeout:      write,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
		},
		log:      logger.With("component", "telemetry"),
		maxConns: maxConns,
	}
}

// Listen binds the endpoint's address. Call it before announcing
// readiness: a port that is taken or not allowed fails the start, instead
// of leaving an agent without its endpoint.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.listen)
	if err != nil {
		return fmt.Errorf("telemetry: listen %s: %w", s.listen, err)
	}
	s.ln = &limitListener{Listener: ln, max: int64(s.maxConns)}
	s.log.Info("serving metrics and health", "addr", ln.Addr().String(), "max_connections", s.maxConns)
	return nil
}

// Run serves on the listener bound by Listen until ctx is done, then shuts
// the server down and returns nil. A serve failure is returned at once.
func (s *Server) Run(ctx context.Context) error {
	if s.ln == nil {
		return errors.New("telemetry: Run called before Listen")
	}
	errc := make(chan error, 1)
	// Exits when the server is shut down below, or its listener fails.
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(shutdownCtx)
		<-errc
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("telemetry: serve: %w", err)
	}
}

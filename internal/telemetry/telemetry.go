// Package telemetry serves the agent's operational endpoints: Prometheus
// metrics on /metrics, liveness on /healthz and readiness on /readyz.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server is the HTTP endpoint. It is created by New and runs in Run.
type Server struct {
	listen string
	srv    *http.Server
	log    *slog.Logger
}

// ReadyFunc reports why the agent is not ready, or nil when it is.
type ReadyFunc func() error

// New builds the server for listen (host:port) over gatherer. ready is
// consulted by /readyz. It opens no socket.
func New(listen string, gatherer prometheus.Gatherer, ready ReadyFunc, logger *slog.Logger) *Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return &Server{
		listen: listen,
		srv:    &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		log:    logger.With("component", "telemetry"),
	}
}

// Run listens and serves until ctx is done, then shuts the server down. A
// listen failure is returned at once (the port is taken or not allowed).
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.listen)
	if err != nil {
		return fmt.Errorf("telemetry: listen %s: %w", s.listen, err)
	}
	s.log.Info("serving metrics and health", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	// Exits when the server is shut down below.
	go func() { errc <- s.srv.Serve(ln) }()
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

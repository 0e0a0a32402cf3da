package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// registerOpsRoutes registers the operational routes, which need no Wix credential (DESIGN §2).
func (s *Server) registerOpsRoutes() {
	for path, h := range map[string]gin.HandlerFunc{"/healthz": s.handleHealthz, "/readyz": s.handleReadyz, "/": s.handleIndex, "/metrics": s.handleMetrics} {
		s.router.GET(path, h)
		s.router.HEAD(path, h) // load balancers and uptime checks often probe with HEAD
	}
}

func (s *Server) handleHealthz(c *gin.Context) {
	c.Data(http.StatusOK, jsonContentType, []byte(`{"status":"ok"}`))
}

// handleReadyz answers 200 once the initial load is done, 503 with the reason before.
func (s *Server) handleReadyz(c *gin.Context) {
	if reason := s.ready.Load(); reason != nil {
		b := append([]byte(`{"ready":false,"reason":`), appendString(nil, *reason)...)
		c.Data(http.StatusServiceUnavailable, jsonContentType, append(b, '}'))
		return
	}
	c.Data(http.StatusOK, jsonContentType, []byte(`{"ready":true}`))
}

// handleIndex is the status page: HTML for a browser (status.go), and for curl and scripts,
// which do not ask for text/html, what is served in plain text.
func (s *Server) handleIndex(c *gin.Context) {
	c.Header("Vary", "Accept")
	if wantsHTML(c.Request) {
		s.handleStatusPage(c)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "sheetsync %s, up %s\n\n", s.cfg.Version, time.Since(s.started).Round(time.Second))
	fmt.Fprintf(&b, "v3 service plugin:  POST %s/v3/...   (%s)\n", s.baseURL(c), authSummary(s.cfg.V3, "--jwt-public-key"))
	fmt.Fprintf(&b, "legacy SPI:         POST %s/provision, /schemas/..., /data/...   (%s)\n\n", s.baseURL(c), authSummary(s.cfg.Legacy, "--secret-key"))
	colls := s.store.Collections()
	fmt.Fprintf(&b, "%d collections:\n", len(colls))
	for _, snap := range colls {
		fmt.Fprintf(&b, "  %-32s %8d rows  %2d fields\n", snap.Name(), snap.Len(), snap.Schema().Len())
	}
	c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(b.String()))
}

func (s *Server) baseURL(c *gin.Context) string {
	scheme := "http"
	if c.Request.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + c.Request.Host
}

func authSummary(a Auth, flag string) string {
	switch a.Mode {
	case AuthKey:
		return "authenticated"
	case AuthOpen:
		return "NOT authenticated: no " + flag
	}
	return "off: set " + flag
}

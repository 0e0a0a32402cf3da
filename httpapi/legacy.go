package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/query"
)

// Legacy roles (legacy §3) and who may call the schema endpoints (legacy §5.1). Data reads are
// open to every role: sheetsync publishes spreadsheets for reading, and Wix applies the
// collection's own permissions before it calls (the reference adaptor's Admin-only default
// would make every visitor-facing page fail).
var (
	rolesSchemaList = []string{"OWNER", "BACKEND_CODE", "MEMBER"}
	rolesAll        = []string{"OWNER", "BACKEND_CODE", "MEMBER", "VISITOR"}
)

// registerLegacyRoutes registers every legacy endpoint (legacy §12.19).
func (s *Server) registerLegacyRoutes() {
	s.router.POST("/provision", legacyRoute(s, nil, s.handleProvision))
	s.router.POST("/schemas/list", legacyRoute(s, rolesSchemaList, s.handleSchemasList))
	s.router.POST("/schemas/list/headers", legacyRoute(s, rolesSchemaList, s.handleSchemasHeaders))
	s.router.POST("/schemas/find", legacyRoute(s, rolesAll, s.handleSchemasFind))
	s.router.POST("/data/find", legacyReadRoute(s, s.handleDataFind))
	s.router.POST("/data/get", legacyReadRoute(s, s.handleDataGet))
	s.router.POST("/data/count", legacyReadRoute(s, s.handleDataCount))
	s.router.POST("/data/aggregate", legacyReadRoute(s, s.handleDataAggregate))
	s.registerLegacyWriteRoutes()
	s.registerLegacyCollectionRoutes()
}

// legacyBase is the part every legacy request shares.
type legacyBase struct {
	RequestContext json.RawMessage `json:"requestContext"`
}

func (b *legacyBase) requestContext() json.RawMessage { return b.RequestContext }

type legacyRequest interface{ requestContext() json.RawMessage }

type legacyHandler[T any] func(ctx context.Context, req *T) ([]byte, error)

// legacyRoute adapts a legacy handler to gin: decode the JSON body into T, check the secret key
// and, where roles is set, the caller's role (legacy §4, §5), call the handler, write the answer
// or {"message": ...}.
func legacyRoute[T any, PT interface {
	*T
	legacyRequest
}](s *Server, roles []string, fn legacyHandler[T]) gin.HandlerFunc {
	return legacyServe[T, PT](s, roles, fn, false)
}

// legacyReadRoute is legacyRoute for a data read, open to every role, whose answers are
// memoised per collection version once the caller is authenticated (responses.go).
func legacyReadRoute[T any, PT interface {
	*T
	legacyRequest
	collectionRequest
}](s *Server, fn legacyHandler[T]) gin.HandlerFunc {
	return legacyServe[T, PT](s, nil, fn, true)
}

func legacyServe[T any, PT interface {
	*T
	legacyRequest
}](s *Server, roles []string, fn legacyHandler[T], memo bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		body, done, err := s.readBody(c)
		if err != nil {
			s.writeError(c, err, "")
			return
		}
		var req T
		err = decodeRequest(body, &req)
		var key string
		if memo && err == nil {
			key = responseKey(c.Request.URL.Path, body)
		}
		done()
		if err != nil {
			s.writeError(c, err, "")
			return
		}
		if err := s.legacyAuth(PT(&req).requestContext(), roles, c.Request.URL.Path); err != nil {
			s.writeError(c, err, "")
			return
		}
		if memo {
			if out, ok := s.cachedAnswer(key); ok {
				c.Data(http.StatusOK, jsonContentType, out)
				return
			}
		}
		s.compute(c, memo, key, &req, func() ([]byte, error) { return fn(c.Request.Context(), &req) })
	}
}

type legacyContext struct {
	Settings   json.RawMessage `json:"settings"`
	Role       json.RawMessage `json:"role"`
	MemberRole json.RawMessage `json:"memberRole"`
}

// legacyAuth checks requestContext.settings.secretKey in constant time, then the role when the
// path has a role rule. Every refusal is 401 "You are not authorized: <why>" (legacy §4).
func (s *Server) legacyAuth(raw json.RawMessage, roles []string, path string) error {
	deny := func(why string) error { return &authError{reason: "You are not authorized: " + why} }
	a := s.cfg.Legacy
	if a.Mode == AuthOff {
		return deny("the legacy protocol is off: this server listens on a non-loopback address without a key; start sheetsync with --secret-key (or --allow-unauthenticated)")
	}
	var rc legacyContext
	parsed := len(raw) > 0 && raw[0] == '{' && json.Unmarshal(raw, &rc) == nil
	if a.Mode == AuthKey {
		if !parsed {
			return deny("requestContext is missing or not an object")
		}
		var settings struct {
			SecretKey *string `json:"secretKey"`
		}
		if len(rc.Settings) == 0 || rc.Settings[0] != '{' || json.Unmarshal(rc.Settings, &settings) != nil || settings.SecretKey == nil {
			return deny("requestContext.settings.secretKey is missing")
		}
		if !legacySecretOK(a.SecretKey, *settings.SecretKey) {
			return deny("requestContext.settings.secretKey does not match this server's --secret-key")
		}
	}
	if roles == nil {
		return nil
	}
	role := roleOf(rc.Role)
	if role == "" {
		role = roleOf(rc.MemberRole) // the legacy Authentication page's name for it (legacy §15.3)
	}
	if role == "" && a.Mode == AuthOpen {
		role = "OWNER" // unauthenticated on loopback: a person trying the API by hand
	}
	if !slices.Contains(roles, role) {
		if role == "" {
			return deny("requestContext.role is missing")
		}
		return deny(fmt.Sprintf("role %s may not call %s", role, path))
	}
	return nil
}

func roleOf(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

type legacyCollection struct {
	legacyBase
	CollectionName string `json:"collectionName"`
}

func (r *legacyCollection) collection() string { return r.CollectionName }

// handleProvision is POST /provision (legacy §12.1). It answers protocolVersion 2, which makes
// Wix send the Mongo-like filter form.
func (s *Server) handleProvision(context.Context, *legacyBase) ([]byte, error) {
	return marshal(map[string]any{"protocolVersion": 2, "type": "sheetsync", "vendor": "self-hosted"})
}

func (s *Server) handleSchemasList(context.Context, *legacyBase) ([]byte, error) {
	return s.legacySchemas(false)
}

func (s *Server) handleSchemasHeaders(context.Context, *legacyBase) ([]byte, error) {
	return s.legacySchemas(true)
}

func (s *Server) legacySchemas(headers bool) ([]byte, error) {
	out := struct {
		Schemas []legacySchema `json:"schemas"`
	}{Schemas: []legacySchema{}}
	for _, snap := range s.store.Collections() {
		out.Schemas = append(out.Schemas, describeLegacy(snap, headers, !headers && s.canWrite(snap)))
	}
	return marshal(out)
}

type legacyFindSchemas struct {
	legacyBase
	SchemaIDs *[]string `json:"schemaIds"`
}

// handleSchemasFind is POST /schemas/find (legacy §12.4): the schemas that exist, 404 only when
// none of the requested ids do.
func (s *Server) handleSchemasFind(_ context.Context, req *legacyFindSchemas) ([]byte, error) {
	if req.SchemaIDs == nil {
		return nil, errBadRequest("schemaIds is required")
	}
	out := struct {
		Schemas []legacySchema `json:"schemas"`
	}{Schemas: []legacySchema{}}
	for _, id := range *req.SchemaIDs {
		if snap, err := s.store.Snapshot(id); err == nil {
			out.Schemas = append(out.Schemas, describeLegacy(snap, false, s.canWrite(snap)))
		}
	}
	if len(out.Schemas) == 0 && len(*req.SchemaIDs) > 0 {
		return nil, &apiError{status: http.StatusNotFound, code: codeCollectionNotFound,
			message: fmt.Sprintf("no collection named %s", strings.Join(*req.SchemaIDs, ", "))}
	}
	return marshal(out)
}

// flexInt is an integer a legacy client may send as a number or a numeric string; null and
// absence are 0.
type flexInt struct {
	n   int
	set bool
}

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" || s == "" {
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v != float64(int(v)) {
		// encoding/json adds the member's name to this error
		return &json.UnmarshalTypeError{Value: string(b), Type: reflect.TypeFor[int]()}
	}
	f.n, f.set = int(v), true
	return nil
}

type legacyFind struct {
	legacyCollection
	Filter         json.RawMessage `json:"filter"`
	Sort           json.RawMessage `json:"sort"`
	Skip           flexInt         `json:"skip"`
	Limit          flexInt         `json:"limit"`
	Projection     json.RawMessage `json:"projection"`
	OmitTotalCount bool            `json:"omitTotalCount"`
}

// handleDataFind is POST /data/find (legacy §12.8). totalCount is the number of matching items
// (Wix's CMS scrolls by it), left out when omitTotalCount is true.
func (s *Server) handleDataFind(ctx context.Context, req *legacyFind) ([]byte, error) {
	snap, err := s.legacySnapshot(req.CollectionName)
	if err != nil {
		return nil, err
	}
	filter, err := decodeFilter(req.Filter)
	if err != nil {
		return nil, err
	}
	sorts := legacySorts(req.Sort)
	projection, err := legacyProjection(snap, req.Projection)
	if err != nil {
		return nil, err
	}
	if req.Skip.n < 0 || req.Limit.n < 0 {
		return nil, errBadRequest("skip and limit must not be negative")
	}
	limit := req.Limit.n
	if limit == 0 {
		limit = defaultLimit
	}
	page, err := s.query.Find(ctx, snap, query.Query{Filter: filter, Sort: sorts, Offset: req.Skip.n,
		Limit: min(limit, query.MaxLimit), Total: !req.OmitTotalCount})
	if err != nil {
		return nil, err
	}
	fields := itemFields(snap.Schema(), projection)
	b := make([]byte, 0, 256+len(page.Rows)*64*snap.Schema().Len())
	b = append(b, `{"items":[`...)
	for i, r := range page.Rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendItem(b, snap, r, fields)
	}
	b = append(b, ']')
	if !req.OmitTotalCount {
		b = append(b, `,"totalCount":`...)
		b = strconv.AppendInt(b, int64(page.Total), 10)
	}
	return append(b, '}'), nil
}

func (s *Server) legacySnapshot(name string) (*cache.Snapshot, error) {
	if name == "" {
		return nil, errBadRequest("collectionName is required")
	}
	return s.store.Snapshot(name)
}

// legacySorts reads [{"fieldName": f, "direction": "asc"|"desc"}]. Like the reference adaptor it
// ignores a sort that is not a list (Wix's own tools send "") and entries without a fieldName
// (legacy §10); direction is case-insensitive and ascending by default.
func legacySorts(raw json.RawMessage) []query.Sort {
	var entries []map[string]any
	if json.Unmarshal(raw, &entries) != nil {
		return nil
	}
	var out []query.Sort
	for _, e := range entries {
		field, ok := e["fieldName"].(string)
		if !ok || field == "" {
			continue
		}
		dir, _ := e["direction"].(string)
		out = append(out, query.Sort{Field: field, Desc: strings.EqualFold(dir, "desc")})
	}
	return out
}

// legacyProjection reads an optional list of field names; anything else is a 400, not the
// reference adaptor's 500 (legacy §14).
func legacyProjection(snap *cache.Snapshot, raw json.RawMessage) ([]string, error) {
	raw = trimJSON(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var fields []string
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, errBadRequest("projection must be a list of field names")
	}
	return fields, checkFields(snap, fields)
}

type legacyGet struct {
	legacyCollection
	ItemID     string          `json:"itemId"`
	Projection json.RawMessage `json:"projection"`
}

// handleDataGet is POST /data/get (legacy §12.9).
func (s *Server) handleDataGet(_ context.Context, req *legacyGet) ([]byte, error) {
	snap, err := s.legacySnapshot(req.CollectionName)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(req.ItemID) == "" {
		return nil, errBadRequest("A value must be provided for itemId")
	}
	projection, err := legacyProjection(snap, req.Projection)
	if err != nil {
		return nil, err
	}
	r, ok := snap.Lookup(req.ItemID)
	if !ok {
		return nil, &apiError{status: http.StatusNotFound, code: codeItemNotFound,
			message: fmt.Sprintf("Item not found: no item with _id %q in collection %q", req.ItemID, req.CollectionName),
			data:    map[string]any{"itemId": req.ItemID}}
	}
	b := append([]byte(nil), `{"item":`...)
	b = appendItem(b, snap, r, itemFields(snap.Schema(), projection))
	return append(b, '}'), nil
}

type legacyCount struct {
	legacyCollection
	Filter json.RawMessage `json:"filter"`
}

// handleDataCount is POST /data/count (legacy §12.10).
func (s *Server) handleDataCount(ctx context.Context, req *legacyCount) ([]byte, error) {
	snap, err := s.legacySnapshot(req.CollectionName)
	if err != nil {
		return nil, err
	}
	return s.countAnswer(ctx, snap, req.Filter)
}

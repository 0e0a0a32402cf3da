package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/sheetsync/sheetsync/cache"
)

// registerV3Routes registers every v3 endpoint (spec v3 §1.1). Item writes are in
// v3_writes.go; reference, collection and index changes answer the protocol's "not supported"
// error, after authentication.
func (s *Server) registerV3Routes() {
	g := s.router.Group("/v3")
	g.POST("/items/query", v3ReadRoute(s, s.handleItemsQuery))
	g.POST("/items/count", v3ReadRoute(s, s.handleItemsCount))
	g.POST("/items/aggregate", v3ReadRoute(s, s.handleItemsAggregate))
	g.POST("/items/query-distinct-values", v3ReadRoute(s, s.handleItemsDistinct))
	g.POST("/items/query-referenced", v3Route(s, s.handleItemsQueryReferenced))
	g.POST("/collections/get", v3Route(s, s.handleCollectionsGet))
	g.POST("/capabilities/get", v3Route(s, s.handleCapabilitiesGet))
	g.POST("/provision", v3Route(s, s.handleV3Provision))
	g.POST("/indexes/list", v3Route(s, s.handleIndexesList))
	s.registerV3WriteRoutes()
	g.POST("/collections/create", v3Route(s, s.handleCollectionsCreate))
	g.POST("/collections/update", v3Route(s, s.handleCollectionsUpdate))
	g.POST("/collections/delete", v3Route(s, s.handleCollectionsDelete))
	g.POST("/indexes/create", v3Route(s, s.handleIndexesCreate))
	g.POST("/indexes/remove", v3Route(s, s.handleIndexesRemove))
	g.POST("/items/insert-references", v3Route(s, s.handleInsertReferences))
	g.POST("/items/remove-references", v3Route(s, s.handleRemoveReferences))
}

// collectionRequest is a request that names a collection, so errors can say which.
type collectionRequest interface{ collection() string }

// v3Handler handles one decoded v3 request and returns the JSON body of the answer.
type v3Handler[T any] func(ctx context.Context, req *T, meta *v3Metadata) ([]byte, error)

// v3Route adapts a v3Handler to gin: read the body, authenticate it (spec v3 §2), decode
// data.request into T, call the handler, write the answer or the error.
func v3Route[T any](s *Server, fn v3Handler[T]) gin.HandlerFunc { return v3Serve(s, fn, false) }

// v3ReadRoute is v3Route for a read of one collection: its answers are memoised per collection
// version (responses.go).
func v3ReadRoute[T any, PT interface {
	*T
	collectionRequest
}](s *Server, fn v3Handler[T]) gin.HandlerFunc {
	return v3Serve(s, fn, true)
}

func v3Serve[T any](s *Server, fn v3Handler[T], memo bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		body, done, err := s.readBody(c)
		if err != nil {
			s.writeError(c, err, "")
			return
		}
		env, err := s.v3Envelope(body)
		if err != nil {
			done()
			s.writeError(c, err, "")
			return
		}
		setRequestID(c, env.Metadata.RequestID)
		var req T
		decoded := false
		if bytes.Contains(env.Request, consistentReadKey) {
			if err := decodeRequest(env.Request, &req); err != nil {
				done()
				s.writeError(c, err, "")
				return
			}
			decoded = true
			if r, ok := any(&req).(consistentRequest); ok && r.consistentRead() {
				if err := s.catchUp(c.Request.Context(), collectionOf(&req)); err != nil {
					done()
					s.writeError(c, err, collectionOf(&req))
					return
				}
			}
		}
		var key string
		if memo {
			key = responseKey(c.Request.URL.Path, env.Request)
			if out, ok := s.cachedAnswer(key); ok {
				done()
				c.Data(http.StatusOK, jsonContentType, out)
				return
			}
		}
		if !decoded {
			err = decodeRequest(env.Request, &req)
		}
		done()
		if err != nil {
			s.writeError(c, err, "")
			return
		}
		s.compute(c, memo, key, &req, func() ([]byte, error) { return fn(c.Request.Context(), &req, &env.Metadata) })
	}
}

// v3Envelope authenticates a v3 body and returns its request and metadata.
func (s *Server) v3Envelope(body []byte) (*v3Envelope, error) {
	switch s.cfg.V3.Mode {
	case AuthKey:
		if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '{' {
			return nil, authErrorf("the request is plain JSON, but this server checks Wix's signature (--jwt-public-key): send the JWT Wix signs")
		}
		return s.verifier.verify(body, time.Now())
	case AuthOpen:
		return openEnvelope(body)
	}
	return nil, authErrorf("the v3 protocol is off: this server listens on a non-loopback address without a key; start sheetsync with --jwt-public-key and --app-id (or --allow-unauthenticated)")
}

// openEnvelope reads an unauthenticated v3 body: the request object as plain JSON, or the
// decoded token layout {"data": {"request": ..., "metadata": ...}}. A signed token is refused,
// since without a key its signature cannot be checked and accepting it would pretend it was.
func openEnvelope(body []byte) (*v3Envelope, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, errBadRequest("empty request body; send the request object as JSON")
	}
	if body[0] != '{' {
		if bytes.Count(body, []byte(".")) == 2 {
			return nil, authErrorf("this server has no --jwt-public-key, so it cannot check a signed request; send the request object as plain JSON, or start sheetsync with --jwt-public-key and --app-id")
		}
		return nil, errBadRequest("request body is neither a JSON object nor a JWT")
	}
	if !bytes.Contains(body, []byte(`"data"`)) {
		return &v3Envelope{Request: body}, nil // a request object: the common case, decoded once later
	}
	var wrapped struct {
		Data *struct {
			Request  json.RawMessage `json:"request"`
			Metadata v3Metadata      `json:"metadata"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &wrapped); err == nil && wrapped.Data != nil && len(wrapped.Data.Request) > 0 {
		return &v3Envelope{Request: wrapped.Data.Request, Metadata: wrapped.Data.Metadata}, nil
	}
	return &v3Envelope{Request: body}, nil
}

// decodeRequest decodes a request object leniently: unknown members are ignored, since Wix adds
// fields (STYLE.md §12); a member of the wrong type is a 400 naming it.
func decodeRequest(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("{}")
	}
	err := json.Unmarshal(raw, v)
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te):
		return errBadRequest("request member %q: expected %s, got %s", memberPath(v, te.Field), te.Type, te.Value)
	case errors.As(err, &se) && strings.Contains(se.Error(), "exceeded max depth"):
		// encoding/json stops at 10,000 levels, long before memory is at stake; say which
		// limit a filter meets first
		return &filterError{msg: fmt.Sprintf("request nested deeper than JSON allows (at byte %d); a filter may be nested at most %d levels deep", se.Offset, maxFilterDepth)}
	case errors.As(err, &se):
		return errBadRequest("request is not valid JSON: %v (at byte %d)", se, se.Offset)
	}
	return errBadRequest("request is not valid JSON: %v", err)
}

// memberPath drops from a decoding error's field path the names of embedded structs, which are
// Go's, not the protocol's: "legacyCollection.collectionName" is the member "collectionName".
func memberPath(v any, field string) string {
	embedded := map[string]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return
		}
		for i := range t.NumField() {
			if f := t.Field(i); f.Anonymous {
				embedded[f.Name] = true
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeOf(v))
	var kept []string
	for _, seg := range strings.Split(field, ".") {
		if !embedded[seg] {
			kept = append(kept, seg)
		}
	}
	return strings.Join(kept, ".")
}

// snapshot returns the current snapshot of a collection named in a request.
func (s *Server) snapshot(name string) (*cache.Snapshot, error) {
	if name == "" {
		return nil, errBadRequest("collectionId is required")
	}
	return s.store.Snapshot(name)
}

type v3CollectionID struct {
	CollectionID string `json:"collectionId"`
}

func (r *v3CollectionID) collection() string { return r.CollectionID }

func (s *Server) handleV3Provision(context.Context, *struct{}, *v3Metadata) ([]byte, error) {
	return marshal(map[string]any{"type": "sheetsync", "vendor": "self-hosted", "protocolVersion": 3, "adapterVersion": s.cfg.Version})
}

func marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode response: %w", err)
	}
	return b, nil
}

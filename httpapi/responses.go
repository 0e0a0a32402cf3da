package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/sheetsync/sheetsync/cache"
)

// cachedResponse is the encoded answer to a read request and the collection version it was
// computed from.
type cachedResponse struct {
	collection string
	version    uint64
	body       []byte
}

// responseKey names an answer by route and the exact bytes of the request object. Requests that
// mean the same but are spelled differently miss here and are still answered from the query
// result cache; requests that repeat byte for byte (a page reloaded, a load test, a retry)
// skip decoding, querying and encoding altogether.
func responseKey(path string, request []byte) string {
	return "http\x00" + path + "\x00" + string(request)
}

// cachedAnswer returns the answer under key if it was computed from the collection's current
// version. Versions only grow, so an answer computed from any other version never matches.
func (s *Server) cachedAnswer(key string) ([]byte, bool) {
	v, ok := s.results().Get(key)
	if !ok {
		return nil, false
	}
	r := v.(*cachedResponse)
	snap, err := s.store.Snapshot(r.collection)
	if err != nil || snap.Version() != r.version {
		return nil, false
	}
	return r.body, true
}

// versionOf returns the current version of a collection, 0 when it does not exist. It is read
// before the handler takes its snapshot, so the version an answer is stored under is never newer
// than the data it was computed from: if the collection changed in between, the entry carries an
// older version than the collection will ever have again, and is simply never served.
func (s *Server) versionOf(collection string) uint64 {
	snap, err := s.store.Snapshot(collection)
	if err != nil {
		return 0
	}
	return snap.Version()
}

// remember stores an answer computed at version.
func (s *Server) remember(key, collection string, version uint64, body []byte) {
	if version == 0 {
		return
	}
	s.results().Set(key, &cachedResponse{collection: collection, version: version, body: body}, int64(len(key)+len(body)+64))
}

// compute answers the decoded request req with fn. A read (memo) takes a query slot, and its
// answer is remembered under key at the version read before fn took its snapshot; anything
// else is answered as it is. Both protocols serve through it. The collection an error names is
// read from req after fn ran: a handler may set it there (the one of several it did not find).
func (s *Server) compute(c *gin.Context, memo bool, key string, req any, fn func() ([]byte, error)) {
	var version uint64
	if memo {
		release, err := s.acquireQuery(c)
		if err != nil {
			s.writeError(c, err, collectionOf(req))
			return
		}
		defer release()
		version = s.versionOf(collectionOf(req))
	}
	out, err := fn()
	if err != nil {
		s.writeError(c, err, collectionOf(req))
		return
	}
	if memo {
		s.remember(key, collectionOf(req), version, out)
	}
	c.Data(http.StatusOK, jsonContentType, out)
}

// collectionOf returns the collection a request names, "" when it names none.
func collectionOf(req any) string {
	if r, ok := req.(collectionRequest); ok {
		return r.collection()
	}
	return ""
}

func (s *Server) results() *cache.Results {
	if s.query == nil {
		return nil
	}
	return s.query.Results
}

package httpapi

import (
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// DefaultQueryWait is how long a read waits for one of the MaxQueries slots before it is
// answered 503 "busy".
const DefaultQueryWait = time.Second

// DefaultMaxQueries is the default cap on reads computed at once: four per CPU the process may
// use, enough to keep every CPU busy while some reads wait on memory.
func DefaultMaxQueries() int { return runtime.GOMAXPROCS(0) * 4 }

// errQueriesBusy answers a read that found every slot taken for QueryWait: the server is not broken,
// the caller should retry.
func (s *Server) errQueriesBusy() *apiError {
	return &apiError{status: http.StatusServiceUnavailable, code: codeUnknown,
		message: "the server is busy: " + strconv.Itoa(cap(s.queries)) + " queries are running; try again shortly",
		data:    map[string]any{"description": "busy"}}
}

// acquireQuery takes a slot for computing a read, waiting up to QueryWait for one; the
// returned function gives it back. When none frees up in time, or the request ends, the error is the
// answer to give; a busy answer carries Retry-After.
func (s *Server) acquireQuery(c *gin.Context) (release func(), err error) {
	select {
	case s.queries <- struct{}{}:
		return s.releaseQuery, nil
	default:
	}
	t := time.NewTimer(s.cfg.QueryWait)
	defer t.Stop()
	select {
	case s.queries <- struct{}{}:
		return s.releaseQuery, nil
	case <-c.Request.Context().Done():
		return nil, c.Request.Context().Err()
	case <-t.C:
		c.Header("Retry-After", "1")
		return nil, s.errQueriesBusy()
	}
}

func (s *Server) releaseQuery() { <-s.queries }

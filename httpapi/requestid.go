package httpapi

import (
	"regexp"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
)

// requestIDKey is where a request's id is kept in its gin context.
const requestIDKey = "sheetsync.request_id"

// requestID gives every request an id for its log lines: Wix's, from the x-wix-request-id
// header, else a new one; a v3 request's metadata.requestId replaces it once the token is read
// (setRequestID). It is sent back as X-Request-Id, so a caller can find the log lines of its
// request.
func (s *Server) requestID(c *gin.Context) {
	id := c.GetHeader("X-Wix-Request-Id")
	if id == "" || len(id) > 128 {
		id = uuid.NewString()
	}
	setRequestID(c, id)
	c.Next()
}

// setRequestID records the request's id; an empty id keeps the one there.
func setRequestID(c *gin.Context, id string) {
	if id == "" || len(id) > 128 {
		return
	}
	c.Set(requestIDKey, id)
	c.Header("X-Request-Id", id)
}

// withRequest returns a log line's attributes with the request's id and path first.
func withRequest(c *gin.Context, args ...any) []any {
	return append([]any{"request_id", c.GetString(requestIDKey), "path", c.Request.URL.Path}, args...)
}

// quoted matches a quoted text in an error message: a value from the request.
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// logMessage is an error's message as logged at info level: what the caller sent (an item's
// value, a filter's) is left out, since the log must hold no item data; the caller gets the
// whole message. Authentication messages hold no item data and say which key, app ID or time
// was wrong, so they are kept whole.
func logMessage(ae *apiError) string {
	if ae.code == codeUnauthorized {
		return ae.message
	}
	return quoted.ReplaceAllString(ae.message, `"…"`)
}

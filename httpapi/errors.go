package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/query"
)

// v3 error codes (spec v3 §4.2). FIELD_DOESNT_EXIST, UNSUPPORTED_OPERATION, UNAUTHORIZED and
// UNKNOWN_ERROR are the reference adaptor's additions, kept because its tests pin them.
const (
	codeCollectionNotFound   = "COLLECTION_NOT_FOUND"
	codeItemNotFound         = "ITEM_NOT_FOUND"
	codeItemAlreadyExists    = "ITEM_ALREADY_EXISTS"
	codeCollectionExists     = "COLLECTION_ALREADY_EXISTS"
	codeChangeNotSupported   = "COLLECTION_CHANGE_NOT_SUPPORTED"
	codeValidation           = "VALIDATION_ERROR"
	codeBadRequest           = "BAD_REQUEST"
	codeFieldDoesntExist     = "FIELD_DOESNT_EXIST"
	codeUnsupportedOperation = "UNSUPPORTED_OPERATION"
	codeUnauthorized         = "UNAUTHORIZED"
	codeUnknown              = "UNKNOWN_ERROR"
)

// apiError is a failure ready for the wire: the HTTP status, the v3 code and data, and a
// message that names the problem. Both protocols render it, each in its own shape; legacyStatus,
// when set, is the status the legacy protocol answers instead (its table in legacy §6 differs
// from v3's for a few failures).
type apiError struct {
	status       int
	legacyStatus int
	code         string
	message      string
	data         map[string]any
}

func (e *apiError) Error() string { return e.message }

// errBadRequest is a request that is not what the protocol expects (malformed JSON, a missing
// or ill-typed member); the message says which.
func errBadRequest(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeBadRequest, message: fmt.Sprintf(format, args...)}
}

// errUnsupported answers an endpoint this version does not serve for the collection.
func errUnsupported(collection, operation, why string) *apiError {
	data := map[string]any{"operation": operation}
	if collection != "" {
		data["collectionId"] = collection
	}
	return &apiError{status: http.StatusBadRequest, code: codeUnsupportedOperation,
		message: fmt.Sprintf("%s is not supported: %s", operation, why), data: data}
}

// toAPIError translates any error of a request into its wire form, in one place (STYLE.md §8).
// The second result is false for errors the caller could not have caused, which are logged and
// answered with a generic message.
func toAPIError(err error, collection string) (*apiError, bool) {
	var ae *apiError
	var qe *query.Error
	var fe *filterError
	var ve *cache.ValidationError
	var ue *authError
	var mbe *http.MaxBytesError
	var nw *notWritableError
	var sce *cache.SchemaChangeError
	switch {
	case errors.As(err, &ae):
		return ae, true
	case errors.As(err, &nw):
		return errNotWritable(nw), true
	case errors.As(err, &ue):
		return &apiError{status: http.StatusUnauthorized, code: codeUnauthorized, message: ue.reason,
			data: map[string]any{"description": ue.reason}}, true
	case errors.As(err, &mbe):
		return &apiError{status: http.StatusRequestEntityTooLarge, code: codeBadRequest,
			message: fmt.Sprintf("request body is larger than the %d-byte limit", mbe.Limit)}, true
	case errors.As(err, &sce):
		changes := make([]map[string]any, 0, len(sce.Fields))
		for _, f := range sce.Fields {
			changes = append(changes, map[string]any{"fieldKey": f.Key, "message": f.Message})
		}
		return &apiError{status: http.StatusBadRequest, code: codeChangeNotSupported, message: sce.Error(),
			data: map[string]any{"collectionId": sce.Collection, "errors": changes}}, true
	case errors.Is(err, cache.ErrCollectionExists):
		return &apiError{status: http.StatusConflict, legacyStatus: http.StatusBadRequest, code: codeCollectionExists,
			message: fmt.Sprintf("collection %q already exists", collection),
			data:    map[string]any{"collectionId": collection}}, true
	case errors.Is(err, cache.ErrCollectionNotFound):
		return &apiError{status: http.StatusNotFound, code: codeCollectionNotFound,
			message: fmt.Sprintf("collection %q does not exist", collection),
			data:    map[string]any{"collectionId": collection}}, true
	case errors.As(err, &qe) && errors.Is(err, query.ErrUnknownField):
		return &apiError{status: http.StatusBadRequest, code: codeFieldDoesntExist,
			message: fmt.Sprintf("field %q does not exist in collection %q", qe.Field, collection),
			data:    map[string]any{"collectionId": collection, "propertyName": qe.Field}}, true
	case errors.As(err, &qe):
		return validation(qe.Field, qe.Error()), true
	case errors.As(err, &fe):
		return validation(fe.path, "filter: "+fe.Error()), true
	case errors.As(err, &ve):
		return validation(ve.Field, ve.Error()), true
	// A write decides these per item against the snapshot it commits on, so the store reports
	// them only if a change slipped past that check; they are still the caller's, not ours.
	case errors.Is(err, cache.ErrItemNotFound):
		return &apiError{status: http.StatusNotFound, code: codeItemNotFound, message: "Item not found: " + err.Error()}, true
	case errors.Is(err, cache.ErrDuplicateID):
		return &apiError{status: http.StatusConflict, legacyStatus: legacyDuplicateStatus, code: codeItemAlreadyExists,
			message: "Item already exists: " + err.Error()}, true
	case errors.Is(err, cache.ErrReadOnly):
		return errNotWritable(&notWritableError{collection: collection, op: "write", reason: err}), true
	case errors.Is(err, cache.ErrNotApplied):
		// the write is in the log: saying "nothing was written" would make the caller repeat it
		return &apiError{status: http.StatusServiceUnavailable, code: codeUnknown,
			message: "the write was recorded and is not lost (" + err.Error() + "); do not repeat it: it is served once this replica catches up with the change log",
			data:    map[string]any{"description": "committed, not yet applied"}}, true
	case errors.Is(err, cache.ErrOutcomeUnknown):
		return &apiError{status: http.StatusServiceUnavailable, code: codeUnknown,
			message: err.Error() + "; it may have been recorded: read the item before writing it again",
			data:    map[string]any{"description": "outcome unknown"}}, true
	case errors.Is(err, cache.ErrUnavailable):
		return &apiError{status: http.StatusServiceUnavailable, code: codeUnknown,
			message: "nothing was written: " + err.Error() + "; reads keep working, try the write again shortly",
			data:    map[string]any{"description": "unavailable"}}, true
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{status: http.StatusServiceUnavailable, code: codeUnknown, message: "the request took too long"}, true
	case errors.Is(err, context.Canceled):
		return &apiError{status: 499, code: codeUnknown, message: "the request was cancelled"}, true
	}
	return &apiError{status: http.StatusInternalServerError, code: codeUnknown, message: "internal error",
		data: map[string]any{"description": "internal error"}}, false
}

// errNotWritable refuses a write to a collection that cannot be written now (Files.Writable, or
// no _id column). v3 has no code for "forbidden": of its codes (spec v3 §4.2) the reference
// adaptor's UNSUPPORTED_OPERATION, 400, says exactly this — the operation cannot be done on this
// collection — and it is what sheetsync answered while every collection was read-only, so Wix
// sees one shape for both. The legacy protocol answers 405, as the reference adaptor answers an
// operation its database cannot do (legacy §6), with the reason in the message.
func errNotWritable(e *notWritableError) *apiError {
	ae := errUnsupported(e.collection, e.op, e.reason.Error())
	ae.message = e.Error()
	ae.legacyStatus = http.StatusMethodNotAllowed
	ae.data["reason"] = e.reason.Error()
	return ae
}

func validation(fieldPath, message string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeValidation, message: message,
		data: map[string]any{"violations": []map[string]any{{"fieldPath": fieldPath, "message": message}}}}
}

// v3ErrorBody renders an error as spec v3 §4.1 documents it, plus the applicationError mirror
// Wix's own SDK sends (spec v3 §13.1), so either reader finds the code.
func v3ErrorBody(ae *apiError) []byte {
	data := ae.data
	if data == nil {
		data = map[string]any{}
	}
	type appError struct {
		Code        string         `json:"code"`
		Description string         `json:"description"`
		Data        map[string]any `json:"data"`
	}
	b, err := json.Marshal(struct {
		ErrorCode        string         `json:"errorCode"`
		ErrorMessage     string         `json:"errorMessage"`
		Data             map[string]any `json:"data"`
		ApplicationError appError       `json:"applicationError"`
	}{ae.code, ae.message, data, appError{ae.code, ae.message, data}})
	if err != nil {
		return []byte(`{"errorCode":"UNKNOWN_ERROR","errorMessage":"internal error"}`)
	}
	return b
}

// legacyErrorBody renders an error as the legacy protocol's only error shape, {"message": ...}
// (legacy §6).
func legacyErrorBody(ae *apiError) []byte {
	b := append([]byte(`{"message":`), appendString(nil, ae.message)...)
	return append(b, '}')
}

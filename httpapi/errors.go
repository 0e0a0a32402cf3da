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
	codeValidation           = "VALIDATION_ERROR"
	codeBadRequest           = "BAD_REQUEST"
	codeFieldDoesntExist     = "FIELD_DOESNT_EXIST"
	codeUnsupportedOperation = "UNSUPPORTED_OPERATION"
	codeUnauthorized         = "UNAUTHORIZED"
	codeUnknown              = "UNKNOWN_ERROR"
)

// apiError is a failure ready for the wire: the HTTP status, the v3 code and data, and a
// message that names the problem. Both protocols render it, each in its own shape.
type apiError struct {
	status  int
	code    string
	message string
	data    map[string]any
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
	switch {
	case errors.As(err, &ae):
		return ae, true
	case errors.As(err, &ue):
		return &apiError{status: http.StatusUnauthorized, code: codeUnauthorized, message: ue.reason,
			data: map[string]any{"description": ue.reason}}, true
	case errors.As(err, &mbe):
		return &apiError{status: http.StatusRequestEntityTooLarge, code: codeBadRequest,
			message: fmt.Sprintf("request body is larger than the %d-byte limit", mbe.Limit)}, true
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
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{status: http.StatusServiceUnavailable, code: codeUnknown, message: "the request took too long"}, true
	case errors.Is(err, context.Canceled):
		return &apiError{status: 499, code: codeUnknown, message: "the request was cancelled"}, true
	}
	return &apiError{status: http.StatusInternalServerError, code: codeUnknown, message: "internal error",
		data: map[string]any{"description": "internal error"}}, false
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

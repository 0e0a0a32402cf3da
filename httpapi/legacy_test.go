package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sheetsync/sheetsync/httpapi"
)

const legacySecret = "s3cr3t"

func legacyKeyed(tb testing.TB) *TestServer {
	return MustOpenServer(tb, httpapi.Config{
		V3:     httpapi.Auth{Mode: httpapi.AuthOpen},
		Legacy: httpapi.Auth{Mode: httpapi.AuthKey, SecretKey: legacySecret},
	}, nil)
}

// rc returns a requestContext with the given secret key and role; an empty role is left out.
func rc(secret, role string) map[string]any {
	m := map[string]any{"settings": map[string]any{"secretKey": secret}, "instanceId": "inst-1"}
	if role != "" {
		m["role"] = role
	}
	return m
}

// TestLegacyAuth_Key checks the secret key (legacy §4): the right one works, anything else is 401
// "You are not authorized" with the reason.
func TestLegacyAuth_Key(t *testing.T) {
	s := legacyKeyed(t)
	find := `{"collectionName": "products", "filter": "", "limit": 1}`
	t.Run("OK", func(t *testing.T) {
		for _, path := range []string{"/provision", "/data/find", "/data/count", "/schemas/list"} {
			r := s.Do(t, http.MethodPost, path, withContext(t, find, rc(legacySecret, "OWNER")))
			if r.Status != http.StatusOK {
				t.Errorf("%s: got %d %s", path, r.Status, r.Body)
			}
		}
	})
	t.Run("ExtraSettings", func(t *testing.T) {
		ctx := map[string]any{"settings": map[string]any{"secretKey": legacySecret, "region": "eu"}, "role": "BACKEND_CODE", "memberId": nil}
		if r := s.Do(t, http.MethodPost, "/data/count", withContext(t, find, ctx)); r.Status != http.StatusOK {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})
	for _, tt := range []struct {
		name string
		body string
		why  string
	}{
		{"EmptyBody", ``, "requestContext is missing or not an object"},
		{"NoRequestContext", find, "requestContext is missing or not an object"},
		{"RequestContextEmptyString", `{"requestContext": "", "collectionName": "products"}`, "requestContext is missing or not an object"},
		{"RequestContextList", `{"requestContext": [], "collectionName": "products"}`, "requestContext is missing or not an object"},
		{"RequestContextNull", `{"requestContext": null, "collectionName": "products"}`, "requestContext is missing or not an object"},
		{"NoSettings", `{"requestContext": {"role": "OWNER"}, "collectionName": "products"}`, "requestContext.settings.secretKey is missing"},
		{"SettingsString", `{"requestContext": {"settings": "s3cr3t", "role": "OWNER"}, "collectionName": "products"}`, "requestContext.settings.secretKey is missing"},
		{"NoSecretKey", `{"requestContext": {"settings": {"key": "s3cr3t"}, "role": "OWNER"}, "collectionName": "products"}`, "requestContext.settings.secretKey is missing"},
		{"SecretKeyNumber", `{"requestContext": {"settings": {"secretKey": 5}, "role": "OWNER"}, "collectionName": "products"}`, "requestContext.settings.secretKey is missing"},
		{"WrongSecret", string(withContext(t, find, rc("guess", "OWNER"))), "requestContext.settings.secretKey does not match this server's --secret-key"},
		{"EmptySecret", string(withContext(t, find, rc("", "OWNER"))), "requestContext.settings.secretKey does not match"},
		{"SecretPrefix", string(withContext(t, find, rc(legacySecret[:3], "OWNER"))), "requestContext.settings.secretKey does not match"},
	} {
		t.Run("Err"+tt.name, func(t *testing.T) {
			// the key is checked on every route, /provision included (legacy §15.4)
			for _, path := range []string{"/provision", "/schemas/list", "/schemas/find", "/data/find", "/data/get", "/data/count", "/data/aggregate", "/data/insert"} {
				legacyError(t, s.Post(t, path, tt.body), http.StatusUnauthorized, "You are not authorized: "+tt.why)
			}
		})
	}
}

// TestLegacyAuth_Roles checks the path role rules (legacy §5.1) and that data reads are open to
// every role.
func TestLegacyAuth_Roles(t *testing.T) {
	s := legacyKeyed(t)
	for _, tt := range []struct {
		path, body, role string
		ok               bool
	}{
		{"/schemas/list", `{}`, "OWNER", true},
		{"/schemas/list", `{}`, "BACKEND_CODE", true},
		{"/schemas/list", `{}`, "MEMBER", true},
		{"/schemas/list", `{}`, "VISITOR", false},
		{"/schemas/list", `{}`, "", false},
		{"/schemas/list", `{}`, "owner", false},
		{"/schemas/list/headers", `{}`, "MEMBER", true},
		{"/schemas/list/headers", `{}`, "VISITOR", false},
		{"/schemas/find", `{"schemaIds": ["products"]}`, "VISITOR", true},
		{"/schemas/find", `{"schemaIds": ["products"]}`, "MEMBER", true},
		{"/schemas/find", `{"schemaIds": ["products"]}`, "", false},
		{"/data/find", `{"collectionName": "products"}`, "VISITOR", true},
		{"/data/get", `{"collectionName": "products", "itemId": "p-1"}`, "VISITOR", true},
		{"/data/count", `{"collectionName": "products"}`, "VISITOR", true},
		{"/data/aggregate", `{"collectionName": "products", "processingStep": {"_id": "$category"}}`, "VISITOR", true},
		{"/data/find", `{"collectionName": "products"}`, "", true},
	} {
		name := strings.TrimPrefix(tt.path, "/") + "/" + tt.role
		t.Run(name, func(t *testing.T) {
			r := s.Do(t, http.MethodPost, tt.path, withContext(t, tt.body, rc(legacySecret, tt.role)))
			if tt.ok {
				if r.Status != http.StatusOK {
					t.Fatalf("got %d %s, want 200", r.Status, r.Body)
				}
				return
			}
			why := "requestContext.role is missing"
			if tt.role != "" {
				why = "role " + tt.role + " may not call " + tt.path
			}
			legacyError(t, r, http.StatusUnauthorized, "You are not authorized: "+why)
		})
	}
	t.Run("RoleNotText", func(t *testing.T) {
		for _, role := range []any{"", []any{}, map[string]any{}, 5} {
			ctx := rc(legacySecret, "")
			ctx["role"] = role
			legacyError(t, s.Do(t, http.MethodPost, "/schemas/list", withContext(t, `{}`, ctx)), http.StatusUnauthorized, "You are not authorized")
		}
	})
	t.Run("MemberRole", func(t *testing.T) {
		// the legacy Authentication page's name for the role (legacy §3, §15.3)
		ctx := rc(legacySecret, "")
		ctx["memberRole"] = "MEMBER"
		if r := s.Do(t, http.MethodPost, "/schemas/list", withContext(t, `{}`, ctx)); r.Status != http.StatusOK {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})
}

// TestLegacyAuth_Open: without a key on loopback, no requestContext is needed.
func TestLegacyAuth_Open(t *testing.T) {
	s := MustOpenServer(t, openConfig(), nil)
	for _, tt := range []struct{ path, body string }{
		{"/provision", ``},
		{"/schemas/list", `{}`},
		{"/schemas/find", `{"schemaIds": ["orders"]}`},
		{"/data/find", `{"collectionName": "products"}`},
		{"/data/get", `{"collectionName": "products", "itemId": "p-1"}`},
		{"/data/count", `{"collectionName": "products", "filter": null}`},
	} {
		if r := s.Post(t, tt.path, tt.body); r.Status != http.StatusOK {
			t.Errorf("%s: got %d %s", tt.path, r.Status, r.Body)
		}
	}
	// a role that is sent still counts
	r := s.Do(t, http.MethodPost, "/schemas/list", withContext(t, `{}`, map[string]any{"role": "VISITOR"}))
	legacyError(t, r, http.StatusUnauthorized, "role VISITOR may not call /schemas/list")
}

func TestLegacyAuth_Off(t *testing.T) {
	s := MustOpenServer(t, httpapi.Config{}, nil)
	for _, path := range []string{"/provision", "/schemas/list", "/data/find"} {
		r := s.Do(t, http.MethodPost, path, withContext(t, `{"collectionName": "products"}`, rc(legacySecret, "OWNER")))
		legacyError(t, r, http.StatusUnauthorized, "You are not authorized: the legacy protocol is off")
		legacyError(t, r, http.StatusUnauthorized, "start sheetsync with --secret-key")
	}
}

// TestLegacy_BadInput: malformed requests get 4xx {"message": ...} naming the problem, never
// 500 (legacy §6, DESIGN §7).
func TestLegacy_BadInput(t *testing.T) {
	s := MustOpenServer(t, openConfig(), nil)
	for _, tt := range []struct {
		name, path, body string
		status           int
		msg              string
	}{
		{"MalformedJSON", "/data/find", `{"collectionName": "products",`, 400, "request is not valid JSON"},
		{"NotAnObject", "/data/find", `["products"]`, 400, "request member"},
		{"NoCollection", "/data/find", `{"filter": ""}`, 400, "collectionName is required"},
		{"UnknownCollectionFind", "/data/find", `{"collectionName": "nonExisting"}`, 404, `collection "nonExisting" does not exist`},
		{"UnknownCollectionGet", "/data/get", `{"collectionName": "nonExisting", "itemId": "x"}`, 404, `collection "nonExisting" does not exist`},
		{"UnknownCollectionCount", "/data/count", `{"collectionName": "nonExisting"}`, 404, `collection "nonExisting" does not exist`},
		{"UnknownCollectionAggregate", "/data/aggregate", `{"collectionName": "nonExisting"}`, 404, `collection "nonExisting" does not exist`},
		{"UnknownSchema", "/schemas/find", `{"schemaIds": ["nonExisting", "gone"]}`, 404, "no collection named nonExisting, gone"},
		{"SchemaIDsMissing", "/schemas/find", `{}`, 400, "schemaIds is required"},
		{"SchemaIDsNotList", "/schemas/find", `{"schemaIds": "products"}`, 400, `request member "schemaIds"`},
		{"CollectionNameNotText", "/data/find", `{"collectionName": 5}`, 400, `request member "collectionName"`},
		{"OmitTotalCountNotBool", "/data/find", `{"collectionName": "products", "omitTotalCount": "yes"}`, 400, `request member "omitTotalCount"`},
		{"UnknownFieldFilter", "/data/find", `{"collectionName": "products", "filter": {"nonExistingColumn": {"$eq": 1}}}`, 400,
			`field "nonExistingColumn" does not exist in collection "products"`},
		{"UnknownFieldSort", "/data/find", `{"collectionName": "products", "sort": [{"fieldName": "colour", "direction": "asc"}]}`, 400, `field "colour" does not exist`},
		{"UnknownFieldProjection", "/data/find", `{"collectionName": "products", "projection": ["name", "colour"]}`, 400, `field "colour" does not exist`},
		{"UnknownFieldGetProjection", "/data/get", `{"collectionName": "products", "itemId": "p-1", "projection": ["colour"]}`, 400, `field "colour" does not exist`},
		{"ProjectionNotList", "/data/find", `{"collectionName": "products", "projection": "name"}`, 400, "projection must be a list of field names"},
		{"ProjectionNumber", "/data/get", `{"collectionName": "products", "itemId": "p-1", "projection": 5}`, 400, "projection must be a list of field names"},
		{"UnknownOperator", "/data/find", `{"collectionName": "products", "filter": {"price": {"$foo": 1}}}`, 400, "unknown operator $foo"},
		{"WrongValueType", "/data/count", `{"collectionName": "products", "filter": {"inStock": {"$eq": "yes"}}}`, 400, "inStock is a boolean field"},
		{"NegativeSkip", "/data/find", `{"collectionName": "products", "skip": -1}`, 400, "skip and limit must not be negative"},
		{"NegativeLimit", "/data/find", `{"collectionName": "products", "limit": -1}`, 400, "skip and limit must not be negative"},
		{"FractionalSkip", "/data/find", `{"collectionName": "products", "skip": 1.5}`, 400, "skip"},
		{"LimitNotNumber", "/data/find", `{"collectionName": "products", "limit": "ten"}`, 400, "limit"},
		{"ItemIDMissing", "/data/get", `{"collectionName": "products"}`, 400, "A value must be provided for itemId"},
		{"ItemIDBlank", "/data/get", `{"collectionName": "products", "itemId": "  "}`, 400, "A value must be provided for itemId"},
		{"ItemNotFound", "/data/get", `{"collectionName": "products", "itemId": "wrong"}`, 404, "Item not found"},
		{"AggregateUnknownFunction", "/data/aggregate", `{"collectionName": "products", "processingStep": {"_id": "$category", "x": {"$median": "$price"}}}`, 400,
			"Unrecognized function $median in processingStep.x"},
		{"AggregateTwoFunctions", "/data/aggregate", `{"collectionName": "products", "processingStep": {"x": {"$min": "$price", "$max": "$price"}}}`, 400,
			"processingStep.x must be one function"},
		{"AggregateNotObject", "/data/aggregate", `{"collectionName": "products", "processingStep": ["$price"]}`, 400, "processingStep must be an object"},
		{"AggregateBadGroup", "/data/aggregate", `{"collectionName": "products", "processingStep": {"_id": 5}}`, 400, `processingStep._id must be "$field"`},
		{"AggregateBadGroupMember", "/data/aggregate", `{"collectionName": "products", "processingStep": {"_id": {"a": 5}}}`, 400, "each grouping field is a \"$field\" reference"},
		{"AggregateFieldNotRef", "/data/aggregate", `{"collectionName": "products", "processingStep": {"x": {"$avg": 5}}}`, 400, "processingStep.x.$avg takes a \"$field\" reference"},
		{"AggregateUnknownField", "/data/aggregate", `{"collectionName": "products", "processingStep": {"_id": "$colour"}}`, 400, `field "colour" does not exist`},
		{"AggregateAvgText", "/data/aggregate", `{"collectionName": "products", "processingStep": {"x": {"$avg": "$name"}}}`, 400, "it applies to number fields"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			legacyError(t, s.Post(t, tt.path, tt.body), tt.status, tt.msg)
		})
	}
}

// TestLegacy_Find checks find's paging and sort forms (legacy §10).
func TestLegacy_Find(t *testing.T) {
	s := MustOpenServer(t, openConfig(), nil)
	for _, tt := range []struct {
		name, body string
		ids        string
		total      int // -1: no totalCount
	}{
		{"NoPaging", `{"collectionName": "products"}`, "p-1 p-2 p-3 p-4 p-5 p-6", 6},
		{"SkipLimit", `{"collectionName": "products", "skip": 1, "limit": 1, "sort": [{"fieldName": "_id"}]}`, "p-2", 6},
		{"StringNumbers", `{"collectionName": "products", "skip": "4", "limit": "10"}`, "p-5 p-6", 6},
		{"NullNumbers", `{"collectionName": "products", "skip": null, "limit": null}`, "p-1 p-2 p-3 p-4 p-5 p-6", 6},
		{"LimitZeroIsDefault", `{"collectionName": "products", "limit": 0}`, "p-1 p-2 p-3 p-4 p-5 p-6", 6},
		{"SortDescUpper", `{"collectionName": "products", "sort": [{"fieldName": "price", "direction": "DESC"}], "limit": 2}`, "p-6 p-1", 6},
		{"SortTwoKeys", `{"collectionName": "products", "sort": [{"fieldName": "category"}, {"fieldName": "price", "direction": "desc"}]}`, "p-6 p-2 p-5 p-3 p-1 p-4", 6},
		// a sort that is not a list of objects is ignored, as the reference adaptor does
		{"SortString", `{"collectionName": "products", "sort": ""}`, "p-1 p-2 p-3 p-4 p-5 p-6", 6},
		{"SortObject", `{"collectionName": "products", "sort": {"_id": -1}}`, "p-1 p-2 p-3 p-4 p-5 p-6", 6},
		{"SortEntryWithoutField", `{"collectionName": "products", "sort": [{"direction": "desc"}, {"fieldName": "price", "direction": "desc"}], "limit": 1}`, "p-6", 6},
		{"OmitTotalCount", `{"collectionName": "products", "omitTotalCount": true, "limit": 1}`, "p-1", -1},
		{"PastTheEnd", `{"collectionName": "products", "skip": 50, "limit": 50}`, "", 6},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := s.Post(t, "/data/find", tt.body)
			got, total := legacyIDs(t, r)
			if strings.Join(got, " ") != tt.ids || total != tt.total {
				t.Fatalf("got %q total %d, want %q total %d", got, total, tt.ids, tt.total)
			}
			if tt.total < 0 && strings.Contains(string(r.Body), "totalCount") {
				t.Fatalf("omitTotalCount answer has totalCount: %s", r.Body)
			}
		})
	}
}

// TestLegacy_Aggregate checks the processingStep forms (legacy §11) beyond the golden files.
func TestLegacy_Aggregate(t *testing.T) {
	s := MustOpenServer(t, openConfig(), nil)
	for _, tt := range []struct {
		name, body, want string
	}{
		{"GroupByString", `{"collectionName": "orders", "processingStep": {"_id": "$product", "qty": {"$sum": "$qty"}}}`,
			`{"items":[{"product":"p-1","qty":7,"_id":"06d244e75cc4f691181ba55bf4446f56f84d5091"},{"product":"p-3","qty":1,"_id":"187ee2691c5ff94152f479046602f7efaabb1f70"}],"totalCount":2}`},
		{"GroupByID", `{"collectionName": "orders", "filter": {"paid": true}, "processingStep": {"_id": "$_id", "n": {"$sum": 1}}}`,
			`{"items":[{"_id":"o-1","n":1},{"_id":"o-3","n":1}],"totalCount":2}`},
		{"NoGroupNoOutput", `{"collectionName": "orders", "processingStep": {"_id": null}}`, `{"items":[{"_id":"da39a3ee5e6b4b0d3255bfef95601890afd80709"}],"totalCount":1}`},
		{"EmptyGroup", `{"collectionName": "orders", "processingStep": {"_id": {}, "min": {"$min": "$qty"}, "max": {"$max": "$qty"}}}`,
			`{"items":[{"min":1,"max":5,"_id":"da39a3ee5e6b4b0d3255bfef95601890afd80709"}],"totalCount":1}`},
		{"PostFilterOnCount", `{"collectionName": "orders", "processingStep": {"_id": "$product", "n": {"$sum": 1}}, "postFilteringStep": {"n": {"$gt": 1}}}`,
			`{"items":[{"product":"p-1","n":2,"_id":"06d244e75cc4f691181ba55bf4446f56f84d5091"}],"totalCount":1}`},
		{"SkipLimit", `{"collectionName": "orders", "processingStep": {"_id": "$product"}, "skip": 1, "limit": 1}`,
			`{"items":[{"product":"p-3","_id":"187ee2691c5ff94152f479046602f7efaabb1f70"}],"totalCount":2}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := s.Post(t, "/data/aggregate", tt.body)
			if r.Status != http.StatusOK || string(r.Body) != tt.want {
				t.Fatalf("got %d %s\nwant 200 %s", r.Status, r.Body, tt.want)
			}
		})
	}
	// the synthetic _id is the same for the same group whatever else the request asks
	a := s.Post(t, "/data/aggregate", `{"collectionName": "orders", "processingStep": {"_id": "$product", "n": {"$sum": 1}}}`)
	b := s.Post(t, "/data/aggregate", `{"collectionName": "orders", "processingStep": {"_id": {"p": "$product"}, "q": {"$max": "$qty"}}}`)
	idsOf := func(r *Response) []any {
		var v struct{ Items []map[string]any }
		json.Unmarshal(r.Body, &v)
		var out []any
		for _, it := range v.Items {
			out = append(out, it["_id"])
		}
		return out
	}
	if x, y := idsOf(a), idsOf(b); len(x) != 2 || x[0] != y[0] || x[1] != y[1] {
		t.Fatalf("synthetic ids differ: %v and %v", x, y)
	}
}

// TestLegacy_SchemasFind answers the schemas asked for, in the order asked, leaving out unknown
// ones while one exists (legacy §15.7).
func TestLegacy_SchemasFind(t *testing.T) {
	s := MustOpenServer(t, openConfig(), nil)
	for _, tt := range []struct{ ids, want string }{
		{`[]`, ""},
		{`["orders", "products"]`, "orders products"},
		{`["products", "gone", "orders"]`, "products orders"},
		{`["inventory", "inventory"]`, "inventory inventory"},
	} {
		r := s.Post(t, "/schemas/find", `{"schemaIds": `+tt.ids+`}`)
		var out struct {
			Schemas []struct{ ID string }
		}
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &out) != nil {
			t.Fatalf("%s: got %d %s", tt.ids, r.Status, r.Body)
		}
		var got []string
		for _, sc := range out.Schemas {
			got = append(got, sc.ID)
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("%s: got %q, want %q", tt.ids, got, tt.want)
		}
	}
}

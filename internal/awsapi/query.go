package awsapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// QueryService serves an AWS service of the query family, such as CloudWatch, in the three
// protocols its clients speak:
//
//   - awsQuery: POST / with a form-encoded body (Action=…&Version=…&Dimensions.member.1.Name=…)
//     and XML responses in the service's namespace — what boto3 1.x and the AWS CLI v1 send;
//   - awsJson1_0: POST / with X-Amz-Target: <ServiceID>.<Action> and a JSON body;
//   - Smithy RPC v2 CBOR: POST /service/<ServiceID>/operation/<Action> — what the newest AWS SDKs
//     (aws-sdk-go-v2's cloudwatch among them) send.
//
// The JSON and CBOR forms are "query compatible": errors carry the query error code in the
// x-amzn-query-error header, so every client sees the same codes. One set of typed handlers
// (QueryOp) serves all three.
type QueryService struct {
	// ServiceID is the Smithy service name, e.g. GraniteServiceVersion20100801: the JSON target
	// prefix and the RPC v2 path segment.
	ServiceID string
	// Version is the API version query clients send, e.g. 2010-08-01.
	Version string
	// XMLNamespace is the namespace of XML responses.
	XMLNamespace string
	// ErrorShapes maps a query error code (InvalidParameterValue) to the error shape name JSON
	// and CBOR clients read from __type (InvalidParameterValueException). Codes not listed are
	// sent as they are.
	ErrorShapes map[string]string
	// ValidationCode is the error code of a request the codec cannot read.
	ValidationCode string
	// InternalCode is the error code of an unexpected failure, whose cause is logged, not sent.
	InternalCode string
	// Authenticate checks a request's signature. Errors are answered in the request's own
	// protocol, which is why authentication is not left to a middleware.
	Authenticate func(r *http.Request) (Principal, error)
	Log          *slog.Logger
	// Observe, when set, is told about every operation served.
	Observe Observer

	ops map[string]QueryHandler
}

// QueryHandler serves one operation of a QueryService; build it with QueryOp. in is the decoded
// request in protocol-neutral form.
type QueryHandler func(ctx context.Context, in map[string]any) (any, error)

// QueryOp adapts a typed function to an operation of a QueryService. Req and Resp are structs
// whose field names are the wire member names (a field tag `aws:"name"` renames, `aws:"-"`
// skips). A nil *Resp means the operation has no output.
func QueryOp[Req any, Resp any](fn func(ctx context.Context, req *Req) (*Resp, error)) QueryHandler {
	return func(ctx context.Context, in map[string]any) (any, error) {
		req := new(Req)
		if err := assign(reflect.ValueOf(req).Elem(), in, ""); err != nil {
			return nil, err
		}
		resp, err := fn(ctx, req)
		if err != nil || resp == nil {
			return nil, err
		}
		return resp, nil
	}
}

// Handle registers an operation. Registering one twice is a programming error.
func (q *QueryService) Handle(action string, h QueryHandler) {
	if q.ops == nil {
		q.ops = map[string]QueryHandler{}
	}
	if _, dup := q.ops[action]; dup {
		panic("awsapi: operation registered twice: " + action)
	}
	q.ops[action] = h
}

// Operations lists the registered operation names, sorted.
func (q *QueryService) Operations() []string {
	out := make([]string, 0, len(q.ops))
	for op := range q.ops {
		out = append(out, op)
	}
	sort.Strings(out)
	return out
}

// protocol names what a request speaks.
type protocol int

const (
	protoQuery protocol = iota + 1
	protoJSON
	protoCBOR
)

// rpcPrefix is the path of RPC v2 requests for this service.
func (q *QueryService) rpcPrefix() string { return "/service/" + q.ServiceID + "/operation/" }

// Match reports whether r is addressed to this service: a JSON target of its ServiceID, an RPC
// v2 path of it, or a form-encoded body (which no JSON service uses).
func (q *QueryService) Match(r *http.Request) bool {
	if strings.HasPrefix(r.Header.Get("X-Amz-Target"), q.ServiceID+".") {
		return true
	}
	if strings.HasPrefix(r.URL.Path, q.rpcPrefix()) {
		return true
	}
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	return strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded")
}

// Or returns a handler that sends requests for this service here and everything else to next.
func (q *QueryService) Or(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if q.Match(r) {
			q.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ServeHTTP authenticates, decodes, dispatches and encodes one request.
func (q *QueryService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := newRequestID()
	w.Header().Set("x-amzn-RequestId", reqID)
	proto := protoQuery
	op := ""
	switch {
	case strings.HasPrefix(r.URL.Path, q.rpcPrefix()):
		proto, op = protoCBOR, strings.TrimPrefix(r.URL.Path, q.rpcPrefix())
	case r.Header.Get("X-Amz-Target") != "":
		proto = protoJSON
		op = strings.TrimPrefix(r.Header.Get("X-Amz-Target"), q.ServiceID+".")
	}
	fail := func(err error) {
		code := q.writeError(w, proto, reqID, err, op)
		if q.Observe != nil {
			q.Observe(opLabel(op), code, time.Since(start))
		}
	}
	if r.Method != http.MethodPost {
		fail(NewError("InvalidAction", http.StatusBadRequest, "Only POST is accepted; send the operation as a POST request."))
		return
	}
	if q.Authenticate != nil {
		p, err := q.Authenticate(r)
		if err != nil {
			fail(err)
			return
		}
		r = r.WithContext(WithPrincipal(r.Context(), p))
	}
	body, err := readBody(w, r)
	if err != nil {
		fail(err)
		return
	}
	var in map[string]any
	switch proto {
	case protoQuery:
		in, op, err = q.decodeForm(body)
	case protoJSON:
		in, err = decodeJSONTree(body)
	case protoCBOR:
		in, err = decodeCBORTree(body)
	}
	if err != nil {
		fail(err)
		return
	}
	h := q.ops[op]
	if h == nil {
		if op == "" {
			fail(NewError("MissingAction", http.StatusBadRequest, "The request names no operation: send Action=<Operation> (query), X-Amz-Target: %s.<Operation> (JSON) or POST %s<Operation> (RPC v2).", q.ServiceID, q.rpcPrefix()))
		} else {
			fail(NewError("InvalidAction", http.StatusBadRequest, "The action %s is not valid for this web service.", op))
		}
		return
	}
	resp, err := h(r.Context(), in)
	if err != nil {
		fail(err)
		return
	}
	var tree any
	if resp != nil {
		tree, _ = encodeTree(reflect.ValueOf(resp))
	}
	switch proto {
	case protoQuery:
		w.Header().Set("Content-Type", "text/xml")
		w.Write(q.xmlResponse(op, reqID, tree))
	case protoJSON:
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		if tree == nil {
			tree = object{}
		}
		w.Write(jsonTree(tree))
	case protoCBOR:
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
		if tree != nil {
			w.Header().Set("Content-Type", "application/cbor")
			var e cborEncoder
			e.value(tree)
			w.Write(e.b)
		}
	}
	if q.Observe != nil {
		q.Observe(op, "OK", time.Since(start))
	}
}

func opLabel(op string) string {
	if op == "" {
		return "unknown"
	}
	return op
}

// readBody reads the request body, inflating a gzip Content-Encoding (the SDKs compress large
// PutMetricData requests).
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	hash := sha256.New()
	rd := io.TeeReader(http.MaxBytesReader(w, r.Body, maxRequestBody), hash)
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(rd)
		if err != nil {
			return nil, NewError("InvalidParameterValue", http.StatusBadRequest, "Content-Encoding is gzip but the body is not: %v", err)
		}
		defer zr.Close()
		rd = io.LimitReader(zr, maxRequestBody+1)
	}
	body, err := io.ReadAll(rd)
	if err != nil {
		return nil, NewError("RequestEntityTooLarge", http.StatusRequestEntityTooLarge, "The request body exceeds %d bytes.", maxRequestBody)
	}
	if len(body) > maxRequestBody {
		return nil, NewError("RequestEntityTooLarge", http.StatusRequestEntityTooLarge, "The request body exceeds %d bytes once decompressed.", maxRequestBody)
	}
	io.Copy(io.Discard, rd) // the digest covers the whole body as sent
	var sum [sha256.Size]byte
	hash.Sum(sum[:0])
	if err := CheckPayloadHash(r, sum); err != nil {
		return nil, err
	}
	return body, nil
}

// decodeForm parses a query request: the Action, and the other parameters as a tree in which
// "Dimensions.member.1.Name=x" becomes {"Dimensions": {"member": {"1": {"Name": "x"}}}}.
func (q *QueryService) decodeForm(body []byte) (map[string]any, string, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, "", q.invalid("The request body is not a valid form encoding: %v", err)
	}
	action := vals.Get("Action")
	if v := vals.Get("Version"); v != "" && q.Version != "" && v != q.Version {
		return nil, action, q.invalid("Version %s is not supported: this server speaks API version %s.", v, q.Version)
	}
	tree := map[string]any{}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "Action" || k == "Version" {
			continue
		}
		parts := strings.Split(k, ".")
		node := tree
		for i, p := range parts {
			if p == "" {
				return nil, action, q.invalid("Parameter name %q is malformed.", k)
			}
			if i == len(parts)-1 {
				if _, taken := node[p]; taken {
					return nil, action, q.invalid("Parameter %q conflicts with another parameter.", k)
				}
				node[p] = vals[k][0]
				break
			}
			child, ok := node[p]
			if !ok {
				m := map[string]any{}
				node[p] = m
				node = m
				continue
			}
			m, ok := child.(map[string]any)
			if !ok {
				return nil, action, q.invalid("Parameter %q conflicts with parameter %q.", k, strings.Join(parts[:i+1], "."))
			}
			node = m
		}
	}
	return tree, action, nil
}

func (q *QueryService) invalid(format string, args ...any) *Error {
	code := q.ValidationCode
	if code == "" {
		code = "ValidationError"
	}
	return NewError(code, http.StatusBadRequest, format, args...)
}

func decodeJSONTree(body []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, NewError(CodeSerialization, http.StatusBadRequest, "Request body is not valid JSON: %v", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, NewError(CodeSerialization, http.StatusBadRequest, "Request body must be a JSON object.")
	}
	return m, nil
}

func decodeCBORTree(body []byte) (map[string]any, error) {
	if len(body) == 0 {
		return map[string]any{}, nil
	}
	v, err := cborDecode(body)
	if err != nil {
		return nil, NewError(CodeSerialization, http.StatusBadRequest, "Request body is not valid CBOR: %v", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, NewError(CodeSerialization, http.StatusBadRequest, "Request body must be a CBOR map.")
	}
	return m, nil
}

// fieldName is a struct field's wire member name, or "" to skip it.
func fieldName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	if tag, ok := f.Tag.Lookup("aws"); ok {
		if tag == "-" {
			return ""
		}
		return tag
	}
	return f.Name
}

var timeType = reflect.TypeOf(time.Time{})

// assign stores the decoded tree node src into dst, converting by dst's type. Query requests
// carry every scalar as text and lists as {"member": {"1": …}}; JSON carries numbers as
// json.Number and timestamps as epoch seconds; CBOR carries int64, float64 and time.Time. Unknown
// members are ignored, as AWS services do for members newer clients send.
func assign(dst reflect.Value, src any, path string) error {
	if src == nil {
		return nil
	}
	bad := func(want string) error {
		shown := fmt.Sprint(src)
		if len(shown) > 60 {
			shown = shown[:60] + "…"
		}
		return NewError("InvalidParameterValue", http.StatusBadRequest, "Value %q for parameter %s is invalid: expected %s.", shown, path, want)
	}
	t := dst.Type()
	if t.Kind() == reflect.Pointer {
		v := reflect.New(t.Elem())
		if err := assign(v.Elem(), src, path); err != nil {
			return err
		}
		dst.Set(v)
		return nil
	}
	if t == timeType {
		tm, ok := parseTime(src)
		if !ok {
			return bad("a timestamp (ISO 8601 or epoch seconds)")
		}
		dst.Set(reflect.ValueOf(tm))
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := src.(map[string]any)
		if !ok {
			return bad("a structure")
		}
		for i := 0; i < t.NumField(); i++ {
			name := fieldName(t.Field(i))
			if name == "" {
				continue
			}
			v, ok := m[name]
			if !ok {
				continue
			}
			if err := assign(dst.Field(i), v, joinPath(path, name)); err != nil {
				return err
			}
		}
	case reflect.Slice:
		items, ok := listItems(src)
		if !ok {
			return bad("a list")
		}
		out := reflect.MakeSlice(t, len(items), len(items))
		for i, it := range items {
			if err := assign(out.Index(i), it, fmt.Sprintf("%s.member.%d", path, i+1)); err != nil {
				return err
			}
		}
		dst.Set(out)
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return bad("a map")
		}
		pairs, ok := mapPairs(src)
		if !ok {
			return bad("a map")
		}
		out := reflect.MakeMapWithSize(t, len(pairs))
		for _, p := range pairs {
			v := reflect.New(t.Elem()).Elem()
			if err := assign(v, p.value, path+"."+p.name); err != nil {
				return err
			}
			out.SetMapIndex(reflect.ValueOf(p.name).Convert(t.Key()), v)
		}
		dst.Set(out)
	case reflect.String:
		s, ok := src.(string)
		if !ok {
			return bad("a string")
		}
		dst.SetString(s)
	case reflect.Bool:
		switch x := src.(type) {
		case bool:
			dst.SetBool(x)
		case string:
			b, err := strconv.ParseBool(x)
			if err != nil || (x != "true" && x != "false") {
				return bad("true or false")
			}
			dst.SetBool(b)
		default:
			return bad("true or false")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := toInt(src)
		if !ok || dst.OverflowInt(n) {
			return bad("an integer")
		}
		dst.SetInt(n)
	case reflect.Float32, reflect.Float64:
		f, ok := toFloat(src)
		if !ok {
			return bad("a number")
		}
		dst.SetFloat(f)
	default:
		return fmt.Errorf("awsapi: cannot decode into %s", t)
	}
	return nil
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// listItems reads a list node: a JSON/CBOR array, a query {"member": {"1": …}} map, or the
// empty string a query client sends for an empty list.
func listItems(src any) ([]any, bool) {
	switch x := src.(type) {
	case []any:
		return x, true
	case string:
		return nil, x == ""
	case map[string]any:
		members, ok := x["member"].(map[string]any)
		if !ok {
			return nil, len(x) == 0
		}
		idx := make([]int, 0, len(members))
		for k := range members {
			n, err := strconv.Atoi(k)
			if err != nil || n < 1 {
				return nil, false
			}
			idx = append(idx, n)
		}
		sort.Ints(idx)
		out := make([]any, len(idx))
		for i, n := range idx {
			out[i] = members[strconv.Itoa(n)]
		}
		return out, true
	}
	return nil, false
}

type pair struct {
	name  string
	value any
}

// mapPairs reads a map node: a JSON/CBOR object or query entries {"entry": {"1": {"key": k,
// "value": v}}}.
func mapPairs(src any) ([]pair, bool) {
	m, ok := src.(map[string]any)
	if !ok {
		s, isStr := src.(string)
		return nil, isStr && s == ""
	}
	if entries, ok := m["entry"].(map[string]any); ok && len(m) == 1 {
		items, ok := listItems(map[string]any{"member": entries})
		if !ok {
			return nil, false
		}
		out := make([]pair, 0, len(items))
		for _, it := range items {
			e, ok := it.(map[string]any)
			k, kok := e["key"].(string)
			if !ok || !kok {
				return nil, false
			}
			out = append(out, pair{k, e["value"]})
		}
		return out, true
	}
	out := make([]pair, 0, len(m))
	for k, v := range m {
		out = append(out, pair{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, true
}

func toInt(src any) (int64, bool) {
	switch x := src.(type) {
	case int64:
		return x, true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
			return int64(x), true
		}
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n, true
		}
		if f, err := x.Float64(); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<63 {
			return int64(f), true
		}
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return n, err == nil
	}
	return 0, false
}

func toFloat(src any) (float64, bool) {
	switch x := src.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case string:
		// JSON and query clients spell the special values as text.
		switch x {
		case "NaN":
			return math.NaN(), true
		case "Infinity":
			return math.Inf(1), true
		case "-Infinity":
			return math.Inf(-1), true
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	}
	return 0, false
}

// parseTime reads a timestamp: a CBOR time, epoch seconds (number or text), or ISO 8601 with or
// without fractional seconds and zone.
func parseTime(src any) (time.Time, bool) {
	if t, ok := src.(time.Time); ok {
		return t, true
	}
	if s, ok := src.(string); ok {
		s = strings.TrimSpace(s)
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05Z0700", "2006-01-02"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC(), true
			}
		}
	}
	f, ok := toFloat(src)
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3).UTC(), true
}

// The encoded response tree: structures keep their member order (XML clients of some services
// care), maps are sorted entries, lists are lists; scalars are string, bool, int64, float64 and
// time.Time.
type (
	object  []member
	entries []member
	list    []any
	member  struct {
		name  string
		value any
	}
)

// encodeTree turns a response value into the tree; ok is false for an absent value (nil pointer,
// slice or map, or an empty string).
func encodeTree(v reflect.Value) (any, bool) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil, false
		}
		return encodeTree(v.Elem())
	}
	t := v.Type()
	if t == timeType {
		tm := v.Interface().(time.Time)
		return tm, !tm.IsZero()
	}
	switch v.Kind() {
	case reflect.Struct:
		out := object{}
		for i := 0; i < t.NumField(); i++ {
			name := fieldName(t.Field(i))
			if name == "" {
				continue
			}
			if x, ok := encodeTree(v.Field(i)); ok {
				out = append(out, member{name, x})
			}
		}
		return out, true
	case reflect.Slice:
		if v.IsNil() {
			return nil, false
		}
		if t.Elem().Kind() == reflect.Uint8 {
			return v.Bytes(), true
		}
		out := make(list, 0, v.Len())
		for i := 0; i < v.Len(); i++ {
			if x, ok := encodeTree(v.Index(i)); ok {
				out = append(out, x)
			}
		}
		return out, true
	case reflect.Map:
		if v.IsNil() {
			return nil, false
		}
		out := entries{}
		for _, k := range v.MapKeys() {
			if x, ok := encodeTree(v.MapIndex(k)); ok {
				out = append(out, member{k.String(), x})
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
		return out, true
	case reflect.String:
		return v.String(), v.Len() > 0
	case reflect.Bool:
		return v.Bool(), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int(), true
	case reflect.Float32, reflect.Float64:
		return v.Float(), true
	}
	panic("awsapi: cannot encode " + t.String())
}

// xmlResponse writes <OpResponse><OpResult>…</OpResult><ResponseMetadata>…</OpResponse>; an
// operation without output has no Result element.
func (q *QueryService) xmlResponse(op, reqID string, tree any) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `<%sResponse xmlns="%s">`, op, q.XMLNamespace)
	if tree != nil {
		writeXML(&b, op+"Result", tree)
	}
	fmt.Fprintf(&b, "<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>", reqID, op)
	return b.Bytes()
}

func writeXML(b *bytes.Buffer, name string, v any) {
	b.WriteByte('<')
	b.WriteString(name)
	b.WriteByte('>')
	switch x := v.(type) {
	case object:
		for _, m := range x {
			writeXML(b, m.name, m.value)
		}
	case entries:
		for _, m := range x {
			b.WriteString("<entry>")
			writeXML(b, "key", m.name)
			writeXML(b, "value", m.value)
			b.WriteString("</entry>")
		}
	case list:
		for _, it := range x {
			writeXML(b, "member", it)
		}
	case string:
		xml.EscapeText(b, []byte(x))
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		b.WriteString(formatFloat(x))
	case time.Time:
		b.WriteString(x.UTC().Format("2006-01-02T15:04:05.000Z"))
	case []byte:
		b.WriteString(base64.StdEncoding.EncodeToString(x))
	}
	b.WriteString("</")
	b.WriteString(name)
	b.WriteByte('>')
}

// formatFloat writes a double as AWS protocols do, special values by name.
func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case math.Abs(f) < 1e21:
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// jsonTree encodes the tree as awsJson1_0: timestamps as epoch seconds, special doubles as
// strings.
func jsonTree(v any) []byte {
	var b bytes.Buffer
	writeJSON(&b, v)
	return b.Bytes()
}

func writeJSON(b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case object:
		writeJSONMembers(b, x)
	case entries:
		writeJSONMembers(b, x)
	case list:
		b.WriteByte('[')
		for i, it := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, it)
		}
		b.WriteByte(']')
	case string:
		writeJSONString(b, x)
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			b.WriteString(`"` + formatFloat(x) + `"`)
		} else {
			b.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
		}
	case time.Time:
		b.WriteString(strconv.FormatFloat(float64(x.UnixMilli())/1e3, 'f', -1, 64))
	case []byte:
		b.WriteString(`"` + base64.StdEncoding.EncodeToString(x) + `"`)
	default:
		b.WriteString("null")
	}
}

// writeJSONString writes s as a JSON string without HTML escaping, as AWS services do.
func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	b.Truncate(b.Len() - 1) // Encode's newline
}

func writeJSONMembers(b *bytes.Buffer, ms []member) {
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(b, m.name)
		b.WriteByte(':')
		writeJSON(b, m.value)
	}
	b.WriteByte('}')
}

// writeError answers err in the request's protocol and returns the code sent. An error that is
// not an *Error is logged and reported as the service's internal error without its cause.
func (q *QueryService) writeError(w http.ResponseWriter, proto protocol, reqID string, err error, op string) string {
	e, ok := AsError(err)
	if !ok {
		code := q.InternalCode
		if code == "" {
			code = CodeInternalFailure
		}
		if errors.Is(err, context.Canceled) {
			e = NewError(code, 499, "The request was cancelled by the client.")
		} else {
			if q.Log != nil {
				q.Log.Error("request failed", "operation", op, slog.Any("error", err))
			}
			e = NewError(code, http.StatusInternalServerError, "The server encountered an internal error; the cause has been logged.")
		}
	}
	fault := "Sender"
	if e.Status >= 500 {
		fault = "Receiver"
	}
	switch proto {
	case protoQuery:
		var b bytes.Buffer
		fmt.Fprintf(&b, `<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>`, q.XMLNamespace, fault)
		xml.EscapeText(&b, []byte(e.Code))
		b.WriteString("</Code><Message>")
		xml.EscapeText(&b, []byte(e.Message))
		fmt.Fprintf(&b, "</Message></Error><RequestId>%s</RequestId></ErrorResponse>", reqID)
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(e.Status)
		w.Write(b.Bytes())
	default:
		shape := e.Code
		if s, ok := q.ErrorShapes[e.Code]; ok {
			shape = s
		}
		w.Header().Set("x-amzn-query-error", e.Code+";"+fault)
		body := object{{"__type", shape}, {"message", e.Message}}
		if proto == protoJSON {
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.WriteHeader(e.Status)
			w.Write(jsonTree(body))
		} else {
			var enc cborEncoder
			enc.value(body)
			w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
			w.Header().Set("Content-Type", "application/cbor")
			w.WriteHeader(e.Status)
			w.Write(enc.b)
		}
	}
	return e.Code
}

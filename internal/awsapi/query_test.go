package awsapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

type qDim struct {
	Name  string
	Value string
}

type qDatum struct {
	MetricName string
	Dimensions []qDim
	Timestamp  *time.Time
	Value      *float64
	Values     []float64
}

type qReq struct {
	AlarmName      string
	ActionsEnabled *bool
	Period         *int32
	Threshold      float64
	AlarmNames     []string
	Dimensions     []qDim
	MetricData     []qDatum
	Extended       map[string]float64
	Renamed        string `aws:"message"`
	Skipped        string `aws:"-"`
}

func TestDecodeRequests(t *testing.T) {
	ts := time.Date(2026, 4, 12, 10, 0, 1, 500_000_000, time.UTC)
	full := qReq{
		AlarmName: "a b&c", ActionsEnabled: ptrTo(false), Period: ptrTo(int32(10)), Threshold: 0.5,
		AlarmNames: []string{"x", "y"},
		Dimensions: []qDim{{"EndpointName", "churn"}, {"VariantName", "AllTraffic"}},
		MetricData: []qDatum{{MetricName: "Lat", Timestamp: &ts, Value: ptrTo(1.25), Values: []float64{1, 2}}},
		Extended:   map[string]float64{"p99": 3},
		Renamed:    "hi",
	}
	cases := []struct {
		name  string
		proto protocol
		body  string
		want  qReq
	}{
		{"query", protoQuery, "Action=PutMetricAlarm&Version=2010-08-01&AlarmName=a+b%26c&ActionsEnabled=false&Period=10&Threshold=0.5" +
			"&AlarmNames.member.2=y&AlarmNames.member.1=x" +
			"&Dimensions.member.1.Name=EndpointName&Dimensions.member.1.Value=churn&Dimensions.member.2.Name=VariantName&Dimensions.member.2.Value=AllTraffic" +
			"&MetricData.member.1.MetricName=Lat&MetricData.member.1.Timestamp=2026-04-12T10%3A00%3A01.500Z&MetricData.member.1.Value=1.25" +
			"&MetricData.member.1.Values.member.1=1&MetricData.member.1.Values.member.2=2" +
			"&Extended.entry.1.key=p99&Extended.entry.1.value=3&message=hi&Skipped=no", full},
		{"json", protoJSON, `{"AlarmName":"a b&c","ActionsEnabled":false,"Period":10,"Threshold":0.5,"AlarmNames":["x","y"],` +
			`"Dimensions":[{"Name":"EndpointName","Value":"churn"},{"Name":"VariantName","Value":"AllTraffic"}],` +
			`"MetricData":[{"MetricName":"Lat","Timestamp":1775988001.5,"Value":1.25,"Values":[1,2.0]}],"Extended":{"p99":3},"message":"hi","Skipped":"no","Unknown":1}`, full},
		{"cbor", protoCBOR, hex.EncodeToString(cborOf(map[string]any{
			"AlarmName": "a b&c", "ActionsEnabled": false, "Period": int64(10), "Threshold": 0.5, "AlarmNames": []any{"x", "y"},
			"Dimensions": []any{map[string]any{"Name": "EndpointName", "Value": "churn"}, map[string]any{"Name": "VariantName", "Value": "AllTraffic"}},
			"MetricData": []any{map[string]any{"MetricName": "Lat", "Timestamp": ts, "Value": 1.25, "Values": []any{int64(1), 2.0}}},
			"Extended":   map[string]any{"p99": int64(3)}, "message": "hi",
		})), full},
		{"query empty list", protoQuery, "Action=DescribeAlarms&AlarmNames=", qReq{AlarmNames: []string{}}},
	}
	q := &QueryService{Version: "2010-08-01"}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var tree map[string]any
			var err error
			switch c.proto {
			case protoQuery:
				tree, _, err = q.decodeForm([]byte(c.body))
			case protoJSON:
				tree, err = decodeJSONTree([]byte(c.body))
			case protoCBOR:
				b, _ := hex.DecodeString(c.body)
				tree, err = decodeCBORTree(b)
			}
			if err != nil {
				t.Fatal(err)
			}
			var got qReq
			if err := assign(reflect.ValueOf(&got).Elem(), tree, ""); err != nil {
				t.Fatal(err)
			}
			if got.MetricData != nil && got.MetricData[0].Timestamp != nil {
				*got.MetricData[0].Timestamp = got.MetricData[0].Timestamp.UTC()
			}
			if !reflect.DeepEqual(got, c.want) {
				gj, _ := json.Marshal(got)
				wj, _ := json.Marshal(c.want)
				t.Fatalf("decoded\n%s\nwant\n%s", gj, wj)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	q := &QueryService{Version: "2010-08-01", ValidationCode: "ValidationError"}
	cases := []struct {
		name, body, code, msg string
	}{
		{"int", "Period=ten", "InvalidParameterValue", "Period"},
		{"int overflow", "Period=99999999999", "InvalidParameterValue", "Period"},
		{"bool", "ActionsEnabled=yes", "InvalidParameterValue", "ActionsEnabled"},
		{"float", "Threshold=high", "InvalidParameterValue", "Threshold"},
		{"nested index", "Dimensions.member.x.Name=a", "InvalidParameterValue", "Dimensions"},
		{"list as scalar", "AlarmNames=a", "InvalidParameterValue", "AlarmNames"},
		{"time", "MetricData.member.1.Timestamp=yesterday", "InvalidParameterValue", "MetricData.member.1.Timestamp"},
		{"conflict", "AlarmName=a&AlarmName.x=b", "ValidationError", "conflicts"},
		{"version", "Version=2009-01-01", "ValidationError", "2010-08-01"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tree, _, err := q.decodeForm([]byte(c.body))
			if err == nil {
				var r qReq
				err = assign(reflect.ValueOf(&r).Elem(), tree, "")
			}
			e, ok := AsError(err)
			if !ok || e.Code != c.code || !strings.Contains(e.Message, c.msg) {
				t.Fatalf("got %v, want %s mentioning %q", err, c.code, c.msg)
			}
		})
	}
}

func TestCBORVectors(t *testing.T) {
	// RFC 8949 Appendix A examples, plus the forms a client may send.
	cases := []struct {
		hex  string
		want any
	}{
		{"00", int64(0)},
		{"1903e8", int64(1000)},
		{"3903e7", int64(-1000)},
		{"f93c00", 1.0},
		{"f97bff", 65504.0},
		{"f90001", 5.960464477539063e-8},
		{"fa47c35000", 100000.0},
		{"fb3ff199999999999a", 1.1},
		{"f5", true},
		{"f6", nil},
		{"6449455446", "IETF"},
		{"7f657374726561646d696e67ff", "streaming"},
		{"9f018202039f0405ffff", []any{int64(1), []any{int64(2), int64(3)}, []any{int64(4), int64(5)}}},
		{"bf61610161629f0203ffff", map[string]any{"a": int64(1), "b": []any{int64(2), int64(3)}}},
		{"c11a514b67b0", time.Unix(1363896240, 0).UTC()},
		{"c1fb41d452d9ec200000", time.Unix(1363896240, 500_000_000).UTC()},
	}
	for _, c := range cases {
		t.Run(c.hex, func(t *testing.T) {
			b, _ := hex.DecodeString(c.hex)
			got, err := cborDecode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %#v, want %#v", got, c.want)
			}
		})
	}
	for _, bad := range []string{"", "1a0000", "5b00000000ffffffff00", "a10102", "ff", "7f01ff", "c16161"} {
		b, _ := hex.DecodeString(bad)
		if _, err := cborDecode(b); err == nil {
			t.Errorf("%q: decoded without error", bad)
		}
	}
	deep := bytes.Repeat([]byte{0x81}, 100)
	if _, err := cborDecode(append(deep, 0)); err == nil {
		t.Error("deep nesting accepted")
	}
}

// cborOf encodes a request tree the way a client would: maps sorted, definite lengths.
func cborOf(v any) []byte {
	var e cborEncoder
	e.value(toTree(v))
	return e.b
}

func toTree(v any) any {
	switch x := v.(type) {
	case map[string]any:
		var o entries
		for k, val := range x {
			o = append(o, member{k, toTree(val)})
		}
		return o
	case []any:
		out := make(list, len(x))
		for i, it := range x {
			out[i] = toTree(it)
		}
		return out
	}
	return v
}

type qOut struct {
	Label      string
	Datapoints []qPoint
	Empty      []qPoint
	NextToken  string
	Absent     *qPoint
}

type qPoint struct {
	Timestamp time.Time
	Sum       *float64
	Count     int32
	On        bool
	Unit      string
	Extended  map[string]float64
}

func testService() *QueryService {
	q := &QueryService{ServiceID: "Svc20100801", Version: "2010-08-01", XMLNamespace: "http://example.com/doc/",
		ErrorShapes: map[string]string{"InvalidParameterValue": "InvalidParameterValueException"}, InternalCode: "InternalServiceError"}
	ts := time.Date(2026, 4, 12, 10, 0, 0, 0, time.UTC)
	q.Handle("Get", QueryOp(func(ctx context.Context, r *qReq) (*qOut, error) {
		if r.AlarmName == "fail" {
			return nil, NewError("InvalidParameterValue", http.StatusBadRequest, "AlarmName <fail> is not allowed")
		}
		if r.AlarmName == "boom" {
			return nil, errors.New("database on fire")
		}
		return &qOut{Label: "L&1", Datapoints: []qPoint{{Timestamp: ts, Sum: ptrTo(2.5), Count: 3, On: false, Extended: map[string]float64{"p99": 1, "p50": 0.5}}}, Empty: []qPoint{}}, nil
	}))
	q.Handle("Put", QueryOp(func(ctx context.Context, r *qReq) (*struct{}, error) { return nil, nil }))
	return q
}

func TestQueryServiceProtocols(t *testing.T) {
	srv := httptest.NewServer(testService().Or(http.NotFoundHandler()))
	defer srv.Close()
	post := func(path string, hdr map[string]string, body []byte) (*http.Response, []byte) {
		req, _ := http.NewRequest("POST", srv.URL+path, bytes.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp, b.Bytes()
	}
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}

	resp, body := post("/", form, []byte("Action=Get&Version=2010-08-01"))
	wantXML := `<GetResponse xmlns="http://example.com/doc/"><GetResult><Label>L&amp;1</Label><Datapoints><member><Timestamp>2026-04-12T10:00:00.000Z</Timestamp><Sum>2.5</Sum><Count>3</Count><On>false</On>` +
		`<Extended><entry><key>p50</key><value>0.5</value></entry><entry><key>p99</key><value>1</value></entry></Extended></member></Datapoints><Empty></Empty></GetResult>` +
		`<ResponseMetadata><RequestId>` + resp.Header.Get("x-amzn-RequestId") + `</RequestId></ResponseMetadata></GetResponse>`
	if resp.StatusCode != 200 || string(body) != wantXML {
		t.Fatalf("query response %d:\n%s\nwant\n%s", resp.StatusCode, body, wantXML)
	}
	resp, body = post("/", form, []byte("Action=Put"))
	if want := `<PutResponse xmlns="http://example.com/doc/"><ResponseMetadata><RequestId>` + resp.Header.Get("x-amzn-RequestId") + `</RequestId></ResponseMetadata></PutResponse>`; string(body) != want {
		t.Fatalf("no-output response: %s", body)
	}
	resp, body = post("/", form, []byte("Action=Get&AlarmName=fail"))
	if want := `<ErrorResponse xmlns="http://example.com/doc/"><Error><Type>Sender</Type><Code>InvalidParameterValue</Code><Message>AlarmName &lt;fail&gt; is not allowed</Message></Error><RequestId>`; resp.StatusCode != 400 || !strings.HasPrefix(string(body), want) {
		t.Fatalf("query error %d: %s", resp.StatusCode, body)
	}
	resp, body = post("/", form, []byte("Action=Get&AlarmName=boom"))
	if resp.StatusCode != 500 || !strings.Contains(string(body), "<Type>Receiver</Type><Code>InternalServiceError</Code>") || strings.Contains(string(body), "fire") {
		t.Fatalf("internal error %d: %s", resp.StatusCode, body)
	}
	resp, body = post("/", form, []byte("Action=Nope"))
	if resp.StatusCode != 400 || !strings.Contains(string(body), "<Code>InvalidAction</Code>") {
		t.Fatalf("unknown action %d: %s", resp.StatusCode, body)
	}
	// gzip bodies are accepted.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("Action=Put&AlarmName=x"))
	zw.Close()
	resp, _ = post("/", map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "gzip"}, gz.Bytes())
	if resp.StatusCode != 200 {
		t.Fatalf("gzip body: %d", resp.StatusCode)
	}

	js := map[string]string{"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "Svc20100801.Get"}
	resp, body = post("/", js, []byte(`{}`))
	if want := `{"Label":"L&1","Datapoints":[{"Timestamp":1775988000,"Sum":2.5,"Count":3,"On":false,"Extended":{"p50":0.5,"p99":1}}],"Empty":[]}`; resp.StatusCode != 200 || string(body) != want {
		t.Fatalf("json response %d: %s", resp.StatusCode, body)
	}
	resp, body = post("/", js, []byte(`{"AlarmName":"fail"}`))
	if resp.StatusCode != 400 || resp.Header.Get("x-amzn-query-error") != "InvalidParameterValue;Sender" || string(body) != `{"__type":"InvalidParameterValueException","message":"AlarmName <fail> is not allowed"}` {
		t.Fatalf("json error %d %q: %s", resp.StatusCode, resp.Header.Get("x-amzn-query-error"), body)
	}

	cb := map[string]string{"Content-Type": "application/cbor", "Smithy-Protocol": "rpc-v2-cbor"}
	resp, body = post("/service/Svc20100801/operation/Get", cb, cborOf(map[string]any{}))
	if resp.StatusCode != 200 || resp.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" {
		t.Fatalf("cbor response %d", resp.StatusCode)
	}
	got, err := cborDecode(body)
	if err != nil {
		t.Fatal(err)
	}
	m := got.(map[string]any)
	dp := m["Datapoints"].([]any)[0].(map[string]any)
	if m["Label"] != "L&1" || dp["Sum"] != 2.5 || dp["Count"] != int64(3) || !dp["Timestamp"].(time.Time).Equal(time.Date(2026, 4, 12, 10, 0, 0, 0, time.UTC)) || len(m["Empty"].([]any)) != 0 {
		t.Fatalf("cbor response: %#v", m)
	}
	resp, body = post("/service/Svc20100801/operation/Put", cb, nil)
	if resp.StatusCode != 200 || len(body) != 0 {
		t.Fatalf("cbor no-output %d: %x", resp.StatusCode, body)
	}
	resp, body = post("/service/Svc20100801/operation/Get", cb, cborOf(map[string]any{"Period": "ten"}))
	e, _ := cborDecode(body)
	if resp.StatusCode != 400 || e.(map[string]any)["__type"] != "InvalidParameterValueException" || resp.Header.Get("x-amzn-query-error") != "InvalidParameterValue;Sender" {
		t.Fatalf("cbor error %d: %#v", resp.StatusCode, e)
	}

	// Requests for other services pass through.
	resp, _ = post("/", map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "SageMaker.ListModels"}, []byte(`{}`))
	if resp.StatusCode != 404 {
		t.Fatalf("SageMaker request reached the query service: %d", resp.StatusCode)
	}
}

func TestEncodeSpecialValues(t *testing.T) {
	for f, want := range map[float64]string{math.NaN(): "NaN", math.Inf(1): "Infinity", 1e300: "1e+300", 100000: "100000", 0.1: "0.1"} {
		if got := formatFloat(f); got != want {
			t.Errorf("formatFloat(%v) = %s, want %s", f, got, want)
		}
	}
	if got := string(jsonTree(object{{"v", math.NaN()}})); got != `{"v":"NaN"}` {
		t.Errorf("NaN in JSON: %s", got)
	}
}

func ptrTo[T any](v T) *T { return &v }

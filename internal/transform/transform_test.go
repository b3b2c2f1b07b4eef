package transform_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/internal/hosting"
	"github.com/sluice-ml/sluice/internal/jobs"
	"github.com/sluice-ml/sluice/internal/store"
	"github.com/sluice-ml/sluice/internal/transform"
)

// rows writes n CSV rows of three features whose predictions change from row to row, and
// returns the file and tinyModel's predictions, one per line.
func rows(n, seed int) (string, string) {
	var in, want strings.Builder
	for i := range n {
		x0 := float64((i*7+seed)%10) / 10
		x1 := float64((i*3 + seed) % 4)
		fmt.Fprintf(&in, "%g,%g,%d\n", x0, x1, i)
		want.WriteString(tinyPredict(x0, x1) + "\n")
	}
	return in.String(), want.String()
}

func TestNativeModelMultiFileInOrder(t *testing.T) {
	e := newEnv(t)
	e.xgbModel("tiny")
	a, wantA := rows(120_000, 1) // ≈1.4 MB: two mini-batches of at most 1 MB
	b, wantB := rows(10, 2)
	c, wantC := rows(500, 3)
	// Blank lines and CRLF line ends hold no records.
	c = strings.ReplaceAll(c, "\n", "\r\n")
	k := strings.Index(c[40:], "\r\n") + 42
	c = "\r\n" + c[:k] + "\n\n" + c[k:]
	e.put("s3://data/in/a.csv", []byte(a))
	e.put("s3://data/in/sub/b.csv", []byte(b))
	e.put("s3://data/in/c.csv", []byte(c))
	e.put("s3://data/other/a.csv", []byte("not part of the input\n"))

	s := spec("native-multi", "tiny", "s3://data/in", "s3://out/native")
	s.MaxPayloadInMB = i32(1)
	s.TransformResources.InstanceCount = 2
	j := e.run(s)
	e.mustComplete(j)
	if j.TransformStartTime.IsZero() || j.TransformEndTime.Before(j.TransformStartTime) {
		t.Errorf("start %v, end %v", j.TransformStartTime, j.TransformEndTime)
	}
	for uri, want := range map[string]string{
		"s3://out/native/a.csv.out": wantA, "s3://out/native/sub/b.csv.out": wantB, "s3://out/native/c.csv.out": wantC,
	} {
		if got := e.mustGet(uri); got != want {
			t.Errorf("%s: %d bytes, want %d; first difference at line %d", uri, len(got), len(want), firstDiff(got, want))
		}
	}
	p, err := e.svc.Progress(context.Background(), "native-multi")
	if err != nil {
		t.Fatal(err)
	}
	if p.FilesDone != 3 || p.Records != 120_510 || p.BytesRead != p.TotalBytes || p.TotalBytes != int64(len(a)+len(b)+len(c)) {
		t.Errorf("progress: %+v", p)
	}
	log := e.log("native-multi")
	for _, want := range []string{"3 input file(s)", "native server", "s3://data/in/a.csv: 120000 records"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

func firstDiff(a, b string) int {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			return i + 1
		}
	}
	return min(len(la), len(lb)) + 1
}

func TestGzipAndManifestInput(t *testing.T) {
	e := newEnv(t)
	e.xgbModel("tiny")
	in, want := rows(20_000, 4)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(in))
	zw.Close()
	e.put("s3://data/gz/part-1.csv.gz", gz.Bytes())
	s := spec("gzip", "tiny", "s3://data/gz/", "s3://out/gz/")
	s.TransformInput.CompressionType = "Gzip"
	e.mustComplete(e.run(s))
	if got := e.mustGet("s3://out/gz/part-1.csv.gz.out"); got != want {
		t.Errorf("gzip output differs at line %d", firstDiff(got, want))
	}

	// The manifest names objects relative to its prefix; only those are read.
	one, wantOne := rows(7, 5)
	two, wantTwo := rows(9, 6)
	e.put("s3://data/m/x/one.csv", []byte(one))
	e.put("s3://data/m/two.csv", []byte(two))
	e.put("s3://data/m/skip.csv", []byte("9,9,9\n"))
	e.put("s3://data/manifest.json", []byte(`[{"prefix": "s3://data/m/"}, "x/one.csv", "two.csv"]`))
	s = spec("manifest", "tiny", "s3://data/manifest.json", "s3://out/manifest")
	s.TransformInput.DataSource.S3DataSource.S3DataType = "ManifestFile"
	e.mustComplete(e.run(s))
	if got := e.mustGet("s3://out/manifest/x/one.csv.out"); got != wantOne {
		t.Errorf("one.csv.out = %q", got)
	}
	if got := e.mustGet("s3://out/manifest/two.csv.out"); got != wantTwo {
		t.Errorf("two.csv.out = %q", got)
	}
	if _, ok := e.get("s3://out/manifest/skip.csv.out"); ok {
		t.Error("an object the manifest does not list was transformed")
	}

	// Gzip input that is not gzip fails the file with a reason.
	e.put("s3://data/notgz/a.csv", []byte("1,2,3\n"))
	s = spec("not-gzip", "tiny", "s3://data/notgz", "s3://out/notgz")
	s.TransformInput.CompressionType = "Gzip"
	j := e.run(s)
	if j.TransformJobStatus != jobs.StatusFailed || !strings.Contains(j.FailureReason, "s3://data/notgz/a.csv, TransformInput.CompressionType is Gzip, but the object is not gzip data") {
		t.Errorf("%s: %s", j.TransformJobStatus, j.FailureReason)
	}
}

func TestJoinAndFilters(t *testing.T) {
	e := newEnv(t)
	e.xgbModel("tiny")
	var csvIn, jsonIn strings.Builder
	type row struct {
		id     string
		x0, x1 float64
	}
	var data []row
	for i := range 3000 {
		r := row{id: "id-" + strconv.Itoa(i), x0: float64(i%10) / 10, x1: float64(i % 4)}
		data = append(data, r)
		fmt.Fprintf(&csvIn, "%s,%g,%g,%d\n", r.id, r.x0, r.x1, i)
		fmt.Fprintf(&jsonIn, `{"id": %q, "features": [%g, %g, %d], "note": "n%d"}`+"\n", r.id, r.x0, r.x1, i, i)
	}
	e.put("s3://data/join/rows.csv", []byte(csvIn.String()))
	e.put("s3://data/joinjson/rows.jsonl", []byte(jsonIn.String()))

	tests := []struct {
		name     string
		input    string
		edit     func(s *transform.Spec)
		wantLine func(i int, r row) string
	}{
		{
			name: "csv id column kept with its prediction", input: "s3://data/join/",
			edit: func(s *transform.Spec) {
				s.DataProcessing = &transform.DataProcessing{InputFilter: "$[1:]", JoinSource: "Input", OutputFilter: "$[0,-1]"}
			},
			wantLine: func(i int, r row) string { return r.id + "," + tinyPredict(r.x0, r.x1) },
		},
		{
			name: "csv whole input joined, one record per request", input: "s3://data/join/",
			edit: func(s *transform.Spec) {
				s.BatchStrategy = "SingleRecord"
				s.DataProcessing = &transform.DataProcessing{InputFilter: "$[1:3]", JoinSource: "Input"}
			},
			wantLine: func(i int, r row) string {
				return fmt.Sprintf("%s,%g,%g,%d,%s", r.id, r.x0, r.x1, i, tinyPredict(r.x0, r.x1))
			},
		},
		{
			name: "csv output filter without a join", input: "s3://data/join/",
			edit: func(s *transform.Spec) {
				s.DataProcessing = &transform.DataProcessing{InputFilter: "$[1,2,3]", OutputFilter: "$[0]"}
			},
			wantLine: func(i int, r row) string { return tinyPredict(r.x0, r.x1) },
		},
		{
			name: "json lines joined under SageMakerOutput", input: "s3://data/joinjson/",
			edit: func(s *transform.Spec) {
				s.TransformInput.ContentType = "application/json"
				s.TransformOutput.Accept = "application/jsonlines"
				s.BatchStrategy = "SingleRecord"
				s.DataProcessing = &transform.DataProcessing{InputFilter: "$.features", JoinSource: "Input", OutputFilter: "$['id','SageMakerOutput']"}
			},
			wantLine: func(i int, r row) string {
				return fmt.Sprintf(`{"id":%q,"SageMakerOutput":{"score":%s}}`, r.id, tinyPredict(r.x0, r.x1))
			},
		},
		{
			name: "json lines, whole record joined", input: "s3://data/joinjson/",
			edit: func(s *transform.Spec) {
				s.TransformInput.ContentType = "application/json"
				s.TransformOutput.Accept = "text/csv"
				s.BatchStrategy = "SingleRecord"
				s.DataProcessing = &transform.DataProcessing{InputFilter: "$.features", JoinSource: "Input"}
			},
			wantLine: func(i int, r row) string {
				return fmt.Sprintf(`{"id":%q,"features":[%g,%g,%d],"note":"n%d","SageMakerOutput":%s}`, r.id, r.x0, r.x1, i, i, tinyPredict(r.x0, r.x1))
			},
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := "join-" + strconv.Itoa(i)
			s := spec(name, "tiny", tc.input, "s3://out/"+name)
			tc.edit(s)
			e.mustComplete(e.run(s))
			var want strings.Builder
			for i, r := range data {
				want.WriteString(tc.wantLine(i, r) + "\n")
			}
			file := "rows.csv.out"
			if strings.Contains(tc.input, "json") {
				file = "rows.jsonl.out"
			}
			got := e.mustGet("s3://out/" + name + "/" + file)
			if got != want.String() {
				gl, wl := strings.Split(got, "\n"), strings.Split(want.String(), "\n")
				n := firstDiff(got, want.String())
				if n <= len(gl) && n <= len(wl) {
					t.Fatalf("line %d: got %s, want %s", n, gl[n-1], wl[n-1])
				}
				t.Fatalf("got %d lines, want %d", len(gl), len(wl))
			}
		})
	}

	// An output filter index beyond the joined record fails with the line.
	s := spec("join-bad-index", "tiny", "s3://data/join/", "s3://out/join-bad-index")
	s.DataProcessing = &transform.DataProcessing{InputFilter: "$[1:]", JoinSource: "Input", OutputFilter: "$[0,9]"}
	j := e.run(s)
	if j.TransformJobStatus != jobs.StatusFailed || !strings.Contains(j.FailureReason, "s3://data/join/rows.csv, line 1: OutputFilter $[0,9]: $[0,9]: index 9 is outside a record of 5 elements") {
		t.Errorf("%s: %s", j.TransformJobStatus, j.FailureReason)
	}
}

func TestPoisonedRecord(t *testing.T) {
	e := newEnv(t)
	e.model("sum", hosting.ContainerDefinition{Image: containerImage})
	var in strings.Builder
	for i := 1; i <= 5000; i++ {
		if i == 3457 {
			in.WriteString("1,poison,3\n")
			continue
		}
		fmt.Fprintf(&in, "%d,1\n", i)
	}
	e.put("s3://data/poison/a-good.csv", []byte("1,2\n3,4\n"))
	e.put("s3://data/poison/b-bad.csv", []byte(in.String()))
	s := spec("poison", "sum", "s3://data/poison", "s3://out/poison")
	s.ModelClientConfig = &transform.ModelClientConfig{InvocationsMaxRetries: i32(1)}
	j := e.run(s)
	if j.TransformJobStatus != jobs.StatusFailed {
		t.Fatalf("status %s", j.TransformJobStatus)
	}
	want := `ClientError: s3://data/poison/b-bad.csv, line 3457: the model answered 400: cannot read "1,poison,3" (after 1 retries)`
	if j.FailureReason != want {
		t.Errorf("FailureReason:\n got %s\nwant %s", j.FailureReason, want)
	}
	if _, ok := e.get("s3://out/poison/b-bad.csv.out"); ok {
		t.Error("the failed file's output was written")
	}
	if got := e.mustGet("s3://out/poison/a-good.csv.out"); got != "3\n7\n" {
		t.Errorf("the good file's output = %q", got)
	}

	// With SplitType None the object is the record: the reason names the file alone.
	e.put("s3://data/whole-bad/a.csv", []byte("1,2\npoison\n"))
	s = spec("poison-whole", "sum", "s3://data/whole-bad/", "s3://out/whole-bad")
	s.TransformInput.SplitType = "None"
	s.ModelClientConfig = &transform.ModelClientConfig{InvocationsMaxRetries: i32(0)}
	j = e.run(s)
	if want := `ClientError: s3://data/whole-bad/a.csv, the model answered 400: cannot read "poison"`; j.FailureReason != want {
		t.Errorf("FailureReason:\n got %s\nwant %s", j.FailureReason, want)
	}

	// The native model points at the record it cannot read, too.
	e.xgbModel("tiny")
	good, _ := rows(2000, 7)
	lines := strings.Split(good, "\n")
	lines[1233] = "0.1,oops,3"
	e.put("s3://data/poison-native/x.csv", []byte(strings.Join(lines, "\n")))
	s = spec("poison-native", "tiny", "s3://data/poison-native/x.csv", "s3://out/poison-native")
	s.ModelClientConfig = &transform.ModelClientConfig{InvocationsMaxRetries: i32(0)}
	j = e.run(s)
	if j.TransformJobStatus != jobs.StatusFailed || !strings.HasPrefix(j.FailureReason, "ClientError: s3://data/poison-native/x.csv, line 1234: the model answered 400: CSV line") {
		t.Errorf("%s: %s", j.TransformJobStatus, j.FailureReason)
	}
}

func TestContainerModel(t *testing.T) {
	e := newEnv(t)
	stats := filepath.Join(t.TempDir(), "stats")
	e.model("sum", hosting.ContainerDefinition{Image: containerImage, Environment: map[string]string{"STATS_FILE": stats}})
	// ≈2.5 MB of records with slow ones spread out, so that the 1 MB mini-batches the model asks
	// for overlap.
	var in, want strings.Builder
	in.WriteString("env:SAGEMAKER_BATCH\nenv:SAGEMAKER_MAX_PAYLOAD_IN_MB\nenv:SAGEMAKER_BATCH_STRATEGY\nenv:MY_SETTING\n")
	want.WriteString("true\n\nMULTI_RECORD\nfrom the job\n")
	for i := range 300_000 {
		if i%50_000 == 0 {
			in.WriteString("sleep:300\n")
			want.WriteString("slept\n")
		}
		fmt.Fprintf(&in, "%d,%d\n", i, i%3)
		want.WriteString(strconv.Itoa(i+i%3) + "\n")
	}
	e.put("s3://data/container/in.csv", []byte(in.String()))
	s := spec("container", "sum", "s3://data/container/in.csv", "s3://out/container")
	s.BatchStrategy = "MultiRecord"
	s.Environment = map[string]string{"MY_SETTING": "from the job"}
	j := e.run(s)
	e.mustComplete(j)
	if got := e.mustGet("s3://out/container/in.csv.out"); got != want.String() {
		t.Errorf("output differs at line %d", firstDiff(got, want.String()))
	}
	most, _ := os.ReadFile(stats)
	if n, _ := strconv.Atoi(string(most)); n < 2 || n > 3 {
		t.Errorf("the model had at most %s requests in flight; its execution parameters allow 3", most)
	}
	log := e.log("container")
	for _, w := range []string{"execution parameters: MaxConcurrentTransforms 3", "container server", "MultiRecord up to 1 MB, 3 in flight"} {
		if !strings.Contains(log, w) {
			t.Errorf("log lacks %q:\n%s", w, log)
		}
	}

	// SplitType None sends each object whole; AssembleWith None adds nothing to the answer.
	e.put("s3://data/whole/a.csv", []byte("1,2\n3,4\n"))
	for _, tc := range []struct{ assemble, want string }{{"None", "3\n7"}, {"Line", "3\n7\n"}} {
		s := spec("whole-"+strings.ToLower(tc.assemble), "sum", "s3://data/whole/", "s3://out/whole-"+tc.assemble)
		s.TransformInput.SplitType = "None"
		s.TransformOutput.AssembleWith = tc.assemble
		e.mustComplete(e.run(s))
		if got := e.mustGet("s3://out/whole-" + tc.assemble + "/a.csv.out"); got != tc.want {
			t.Errorf("AssembleWith %s: %q, want %q", tc.assemble, got, tc.want)
		}
	}
}

func TestStopMidJob(t *testing.T) {
	e := newEnv(t)
	e.model("sum", hosting.ContainerDefinition{Image: containerImage, Environment: map[string]string{"NO_EXECUTION_PARAMETERS": "1"}})
	e.put("s3://data/stop/a.csv", []byte("1,1\n"))
	e.put("s3://data/stop/b.csv", []byte(strings.Repeat("sleep:100\n", 200)))
	s := spec("stop", "sum", "s3://data/stop", "s3://out/stop")
	s.BatchStrategy = "SingleRecord"
	if _, err := e.svc.CreateTransformJob(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		p, err := e.svc.Progress(context.Background(), "stop")
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Files) == 2 && p.Files[1].Records >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress: %+v", p)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := e.svc.StopTransformJob(context.Background(), "stop"); err != nil {
		t.Fatal(err)
	}
	j := e.wait("stop")
	if j.TransformJobStatus != jobs.StatusStopped {
		t.Fatalf("status %s (%s)", j.TransformJobStatus, j.FailureReason)
	}
	if got := e.mustGet("s3://out/stop/a.csv.out"); got != "2\n" {
		t.Errorf("the finished file's output = %q", got)
	}
	if _, ok := e.get("s3://out/stop/b.csv.out"); ok {
		t.Error("the stopped file's partial output was written")
	}
	p, _ := e.svc.Progress(context.Background(), "stop")
	if p.Files[1].Status != store.TransformFilePending || p.Files[0].Status != store.TransformFileDone {
		t.Errorf("file statuses after the stop: %s, %s", p.Files[0].Status, p.Files[1].Status)
	}
	if err := e.svc.StopTransformJob(context.Background(), "stop"); err == nil || !strings.Contains(err.Error(), "status Stopped") {
		t.Errorf("stopping a stopped job: %v", err)
	}
}

func TestRecordLimits(t *testing.T) {
	e := newEnv(t)
	e.xgbModel("tiny")
	big := strings.Repeat("1", 1<<20+10)
	e.put("s3://data/long/a.csv", []byte("0.1,1,1\n0.2,1,1\n"+big+"\n0.3,1,1\n"))
	s := spec("long", "tiny", "s3://data/long/", "s3://out/long")
	s.MaxPayloadInMB = i32(1)
	j := e.run(s)
	if j.TransformJobStatus != jobs.StatusFailed || !strings.Contains(j.FailureReason, "s3://data/long/a.csv, line 3: the record is longer than MaxPayloadInMB (1 MB)") {
		t.Errorf("%s: %s", j.TransformJobStatus, j.FailureReason)
	}
	e.put("s3://data/empty/a.csv", nil)
	e.mustComplete(e.run(spec("empty", "tiny", "s3://data/empty/", "s3://out/empty")))
	if got := e.mustGet("s3://out/empty/a.csv.out"); got != "" {
		t.Errorf("empty input gave %q", got)
	}
	j = e.run(spec("nothing", "tiny", "s3://data/nothing-here/", "s3://out/nothing"))
	if j.TransformJobStatus != jobs.StatusFailed || !strings.Contains(j.FailureReason, "No S3 objects found under S3 URL") {
		t.Errorf("%s: %s", j.TransformJobStatus, j.FailureReason)
	}
}

func TestResumeKeepsFinishedFiles(t *testing.T) {
	e := newEnv(t)
	e.xgbModel("tiny")
	a, _ := rows(5, 1)
	b, wantB := rows(5, 2)
	e.put("s3://data/resume/a.csv", []byte(a))
	e.put("s3://data/resume/b.csv", []byte(b))
	// What an interrupted attempt left: a.csv done and written, b.csv half way.
	e.put("s3://out/resume/a.csv.out", []byte("kept\n"))
	arn := e.runner.ARN(jobs.KindTransform, "resume")
	now := time.Now()
	files := []store.TransformFile{
		{JobARN: arn, Seq: 0, InputURI: "s3://data/resume/a.csv", OutputURI: "s3://out/resume/a.csv.out", Size: int64(len(a)), Status: store.TransformFileDone, Records: 5, BytesRead: int64(len(a)), UpdatedAt: now},
		{JobARN: arn, Seq: 1, InputURI: "s3://data/resume/b.csv", OutputURI: "s3://out/resume/b.csv.out", Size: int64(len(b)), Status: store.TransformFileRunning, Records: 2, UpdatedAt: now},
	}
	if err := e.store.InTx(context.Background(), func(tx *store.Tx) error { return tx.InsertTransformFiles(context.Background(), files) }); err != nil {
		t.Fatal(err)
	}
	e.mustComplete(e.run(spec("resume", "tiny", "s3://data/resume/", "s3://out/resume")))
	if got := e.mustGet("s3://out/resume/a.csv.out"); got != "kept\n" {
		t.Errorf("the finished file was transformed again: %q", got)
	}
	if got := e.mustGet("s3://out/resume/b.csv.out"); got != wantB {
		t.Errorf("b.csv.out = %q", got)
	}
	p, _ := e.svc.Progress(context.Background(), "resume")
	if p.FilesDone != 2 || p.Records != 10 {
		t.Errorf("progress %+v", p)
	}
}

func TestValidation(t *testing.T) {
	e := newEnv(t)
	e.xgbModel("tiny")
	tests := []struct {
		name string
		edit func(s *transform.Spec)
		want string
	}{
		{"missing model", func(s *transform.Spec) { s.ModelName = "nope" }, `Could not find model "arn:aws:sagemaker:us-east-1:000000000000:model/nope".`},
		{"RecordIO", func(s *transform.Spec) { s.TransformInput.SplitType = "RecordIO" }, "TransformInput.SplitType RecordIO is not supported here yet"},
		{"TFRecord", func(s *transform.Spec) { s.TransformInput.SplitType = "TFRecord" }, "TransformInput.SplitType TFRecord is not supported here yet"},
		{"single record without splitting", func(s *transform.Spec) {
			s.TransformInput.SplitType = "None"
			s.BatchStrategy = "SingleRecord"
		}, "BatchStrategy SingleRecord needs TransformInput.SplitType Line"},
		{"payload times concurrency", func(s *transform.Spec) {
			s.MaxConcurrentTransforms = i32(20)
		}, "MaxConcurrentTransforms × MaxPayloadInMB is 20 × 6 = 120 MB; it must not exceed 100 MB"},
		{"chunked payload", func(s *transform.Spec) { s.MaxPayloadInMB = i32(0) }, "MaxPayloadInMB 0 (HTTP chunked streaming"},
		{"bad filter", func(s *transform.Spec) {
			s.DataProcessing = &transform.DataProcessing{InputFilter: "$[0:2,5:]"}
		}, "DataProcessing.InputFilter: Invalid JsonPath: $[0:2,5:]: only single range filters"},
		{"named filter on csv", func(s *transform.Spec) {
			s.DataProcessing = &transform.DataProcessing{InputFilter: "$.features"}
		}, "a CSV record is an array of its fields"},
		{"join on libsvm", func(s *transform.Spec) {
			s.TransformInput.ContentType = "text/libsvm"
			s.DataProcessing = &transform.DataProcessing{JoinSource: "Input"}
		}, "DataProcessing (InputFilter, JoinSource Input) works on CSV and JSON records"},
		{"augmented manifest", func(s *transform.Spec) {
			s.TransformInput.DataSource.S3DataSource.S3DataType = "AugmentedManifestFile"
		}, "AugmentedManifestFile is not supported here"},
		{"https input", func(s *transform.Spec) {
			s.TransformInput.DataSource.S3DataSource.S3Uri = "https://bucket.s3.amazonaws.com/x"
		}, "only s3:// URIs are supported here"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := spec("v", "tiny", "s3://data/x", "s3://out/x")
			tc.edit(s)
			_, err := e.svc.CreateTransformJob(context.Background(), s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			var inv *jobs.InvalidError
			if !errorsAs(err, &inv) {
				t.Errorf("err %T is not a *jobs.InvalidError", err)
			}
		})
	}
	if _, err := e.svc.DescribeTransformJob(context.Background(), "v"); err != jobs.ErrNotFound {
		t.Errorf("a refused job exists: %v", err)
	}
	s := spec("twice", "tiny", "s3://data/x", "s3://out/x")
	if _, err := e.svc.CreateTransformJob(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	var exists *jobs.ExistsError
	if _, err := e.svc.CreateTransformJob(context.Background(), s); !errorsAs(err, &exists) {
		t.Errorf("second create: %v", err)
	}
	j, err := e.svc.DescribeTransformJob(context.Background(), "twice")
	if err != nil {
		t.Fatal(err)
	}
	if j.TransformJobArn != "arn:aws:sagemaker:us-east-1:000000000000:transform-job/twice" || j.ModelName != "tiny" || j.TransformInput.SplitType != "Line" {
		t.Errorf("described %s", mustJSON(j))
	}
}

func TestInvocationTimeout(t *testing.T) {
	e := newEnv(t)
	e.model("sum", hosting.ContainerDefinition{Image: containerImage})
	e.put("s3://data/slow/a.csv", []byte("1,1\n2,2\nsleep:3000\n"))
	s := spec("slow", "sum", "s3://data/slow/", "s3://out/slow")
	s.ModelClientConfig = &transform.ModelClientConfig{InvocationsTimeoutInSeconds: i32(1), InvocationsMaxRetries: i32(0)}
	began := time.Now()
	j := e.run(s)
	if want := "ClientError: s3://data/slow/a.csv, line 3: the model did not answer within 1s (ModelClientConfig.InvocationsTimeoutInSeconds)"; j.FailureReason != want {
		t.Errorf("FailureReason:\n got %s\nwant %s", j.FailureReason, want)
	}
	if el := time.Since(began); el > 20*time.Second {
		t.Errorf("the job took %s", el)
	}
}

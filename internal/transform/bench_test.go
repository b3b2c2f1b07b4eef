package transform

import (
	"bytes"
	"context"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/sluice-ml/sluice/internal/algo/xgboost"
	"github.com/sluice-ml/sluice/internal/blob"
	"github.com/sluice-ml/sluice/internal/serving"
	"github.com/sluice-ml/sluice/internal/store"
)

// fullTrees is a model of n complete trees of the given depth over nfeat features, with random
// splits: it costs what a trained model of that shape costs to evaluate.
func fullTrees(n, depth, nfeat int) *xgboost.Model {
	rng := rand.New(rand.NewPCG(1, 2))
	m := &xgboost.Model{Objective: "reg:squarederror", BaseScore: 0.5, NumFeature: nfeat}
	nodes := 1<<(depth+1) - 1
	for range n {
		t := xgboost.Tree{LeftChildren: make([]int32, nodes), RightChildren: make([]int32, nodes), SplitIndices: make([]int32, nodes),
			SplitConditions: make([]float32, nodes), DefaultLeft: make([]bool, nodes)}
		for i := range nodes {
			if l := 2*i + 1; l < nodes {
				t.LeftChildren[i], t.RightChildren[i] = int32(l), int32(l+1)
				t.SplitIndices[i] = int32(rng.IntN(nfeat))
				t.SplitConditions[i] = float32(rng.NormFloat64())
				t.DefaultLeft[i] = rng.IntN(2) == 0
			} else {
				t.LeftChildren[i], t.RightChildren[i] = xgboost.NoChild, xgboost.NoChild
				t.SplitConditions[i] = float32(rng.NormFloat64() * 0.1)
			}
		}
		m.Trees = append(m.Trees, t)
	}
	return m
}

// BenchmarkNativeFile transforms one CSV file (rows of 10 features, as a data export writes
// them) with a 100-tree depth-6 model through the in-process XGBoost server: reading from the
// local artifact store, cutting mini-batches, predicting and writing the ordered output.
func BenchmarkNativeFile(b *testing.B) {
	const rows, nfeat = 200_000, 10
	pred, err := xgboost.NewPredictor(fullTrees(100, 6, nfeat))
	if err != nil {
		b.Fatal(err)
	}
	model := serving.NewNativeServer(pred, "", 1)
	bs, err := blob.NewLocal(filepath.Join(b.TempDir(), "blobs"))
	if err != nil {
		b.Fatal(err)
	}
	defer bs.Close()
	ctx := context.Background()
	bs.EnsureBucket(ctx, "bench")
	rng := rand.New(rand.NewPCG(7, 7))
	var data []byte
	for range rows {
		for j := range nfeat {
			if j > 0 {
				data = append(data, ',')
			}
			data = strconv.AppendFloat(data, rng.NormFloat64(), 'g', 6, 64)
		}
		data = append(data, '\n')
	}
	if err := bs.Put(ctx, blob.MustParseURI("s3://bench/in.csv"), bytes.NewReader(data), int64(len(data))); err != nil {
		b.Fatal(err)
	}
	spec := &Spec{TransformInput: &Input{DataSource: &DataSource{S3DataSource: &S3DataSource{S3DataType: DataS3Prefix, S3Uri: "s3://bench/in.csv"}}, ContentType: "text/csv", SplitType: SplitLine},
		TransformOutput: &Output{S3OutputPath: "s3://bench/out", AssembleWith: AssembleLine}, TransformResources: &Resources{InstanceType: "ml.m5.xlarge", InstanceCount: 1}}
	pl, err := newPlan(spec)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := pl.resolve(ctx, model); err != nil {
		b.Fatal(err)
	}
	pool := &sync.Pool{New: func() any { buf := make([]byte, 0, pl.maxPayload); return &buf }}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		st := &fileState{row: store.TransformFile{InputURI: "s3://bench/in.csv", OutputURI: "s3://bench/out/in.csv.out"}}
		fr := &fileRun{pl: pl, model: model, blob: bs, st: st, pool: pool, logf: b.Logf}
		if err := fr.run(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

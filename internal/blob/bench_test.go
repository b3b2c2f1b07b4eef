package blob

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// The benchmarks run against every backend that the conformance suite uses; with
// scripts/s3test.sh -run '^$' -bench . they compare the local folder with a real S3 server.

func BenchmarkPut(b *testing.B) {
	for _, be := range backends(b) {
		for _, size := range []int64{64 << 10, 8 << 20} {
			b.Run(fmt.Sprintf("%s/%dKiB", be.name, size>>10), func(b *testing.B) {
				s, bucket := be.open(b)
				data := make([]byte, size)
				io.ReadFull(seeded(1, size), data)
				u := URI{Bucket: bucket, Key: "bench/object"}
				b.SetBytes(size)
				for b.Loop() {
					if err := s.Put(b.Context(), u, bytes.NewReader(data), size); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkGet(b *testing.B) {
	for _, be := range backends(b) {
		for _, size := range []int64{64 << 10, 8 << 20} {
			b.Run(fmt.Sprintf("%s/%dKiB", be.name, size>>10), func(b *testing.B) {
				s, bucket := be.open(b)
				u := URI{Bucket: bucket, Key: "bench/object"}
				if err := s.Put(b.Context(), u, seeded(1, size), size); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(size)
				for b.Loop() {
					rc, err := s.Get(b.Context(), u)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := io.Copy(io.Discard, rc); err != nil {
						b.Fatal(err)
					}
					rc.Close()
				}
			})
		}
	}
}

// BenchmarkList lists 1000 objects spread over 10 folders.
func BenchmarkList(b *testing.B) {
	for _, be := range backends(b) {
		b.Run(be.name, func(b *testing.B) {
			s, bucket := be.open(b)
			for i := range 1000 {
				put(b, s, URI{Bucket: bucket, Key: fmt.Sprintf("runs/%d/metrics-%04d.json", i%10, i)}, "{}")
			}
			for b.Loop() {
				n := 0
				if err := s.List(b.Context(), URI{Bucket: bucket, Key: "runs/"}, func(ObjectInfo) error { n++; return nil }); err != nil {
					b.Fatal(err)
				}
				if n != 1000 {
					b.Fatalf("listed %d", n)
				}
			}
		})
	}
}

// BenchmarkDownloadPrefix downloads 100 objects of 16 KiB, the shape of a sharded dataset.
func BenchmarkDownloadPrefix(b *testing.B) {
	for _, be := range backends(b) {
		b.Run(be.name, func(b *testing.B) {
			s, bucket := be.open(b)
			const n, size = 100, 16 << 10
			for i := range n {
				if err := s.Put(b.Context(), URI{Bucket: bucket, Key: fmt.Sprintf("data/train/part-%03d.csv", i)}, seeded(byte(i), size), size); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(n * size)
			dir := b.TempDir()
			i := 0
			for b.Loop() {
				// A fresh folder each time, as for a job: rewriting files in place would measure
				// ext4's flush-on-truncate heuristic instead.
				i++
				if err := DownloadPrefix(b.Context(), s, URI{Bucket: bucket, Key: "data/train"}, filepath.Join(dir, fmt.Sprint(i)), nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPackUnpack packs and unpacks a 16 MiB model folder.
func BenchmarkPackUnpack(b *testing.B) {
	src := b.TempDir()
	for i := range 4 {
		p := filepath.Join(src, fmt.Sprintf("shard-%d.bin", i))
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(f, seeded(byte(i), 4<<20))
		f.Close()
	}
	b.SetBytes(16 << 20)
	for b.Loop() {
		var buf bytes.Buffer
		if err := PackDir(src, &buf); err != nil {
			b.Fatal(err)
		}
		if err := UnpackTarGz(&buf, filepath.Join(b.TempDir(), "out")); err != nil {
			b.Fatal(err)
		}
	}
}

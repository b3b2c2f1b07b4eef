package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string // substring of the error; "" means valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"bad listen", func(c *Config) { c.Listen = "7070" }, "listen"},
		{"empty data dir", func(c *Config) { c.DataDir = "" }, "data_dir"},
		{"mysql", func(c *Config) { c.Database = "mysql://x" }, "database"},
		{"postgres", func(c *Config) { c.Database = "postgres://u@h/db" }, ""},
		{"bad region", func(c *Config) { c.Region = "Mars" }, "region"},
		{"bad account", func(c *Config) { c.AccountID = "123" }, "account_id"},
		{"bad log level", func(c *Config) { c.LogLevel = "loud" }, "log_level"},
		{"s3 without endpoint", func(c *Config) { c.Blob.Backend = "s3" }, "blob.s3_endpoint"},
		{"unknown backend", func(c *Config) { c.Blob.Backend = "ftp" }, "blob.backend"},
		{"no slots", func(c *Config) { c.Jobs.Slots = 0 }, "jobs.slots"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.change(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

// File < environment: a variable overrides the file, and the file overrides the defaults.
func TestLayering(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sluice.yaml")
	os.WriteFile(path, []byte("listen: 127.0.0.1:8080\nregion: eu-west-1\njobs:\n  slots: 2\n"), 0o600)
	c := Default()
	if err := c.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SLUICE_REGION": "us-west-2", "SLUICE_JOB_SLOTS": "8"}
	if err := c.LoadEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8080" || c.Region != "us-west-2" || c.Jobs.Slots != 8 || c.AccountID != "000000000000" {
		t.Fatalf("layered config = %+v", c)
	}
	if err := c.LoadEnv(func(k string) string {
		if k == "SLUICE_JOB_SLOTS" {
			return "many"
		}
		return ""
	}); err == nil || !strings.Contains(err.Error(), "SLUICE_JOB_SLOTS") {
		t.Fatalf("bad integer: %v", err)
	}
}

// A typo in the file is an error, not a silently ignored key.
func TestUnknownKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sluice.yaml")
	os.WriteFile(path, []byte("lisen: 127.0.0.1:8080\n"), 0o600)
	c := Default()
	if err := c.LoadFile(path); err == nil || !strings.Contains(err.Error(), "lisen") {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestStringMasksSecrets(t *testing.T) {
	c := Default()
	c.Blob.S3SecretKey = "topsecret"
	if strings.Contains(c.String(), "topsecret") {
		t.Fatal("printed configuration shows the S3 secret")
	}
}

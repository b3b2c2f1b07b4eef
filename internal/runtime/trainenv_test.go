package runtime

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func envMap(t *testing.T, env []string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("env entry %q is not KEY=value", kv)
		}
		if _, dup := m[k]; dup {
			t.Fatalf("env key %s twice", k)
		}
		m[k] = v
	}
	return m
}

func TestTrainingEnv(t *testing.T) {
	env := envMap(t, TrainingEnv(TrainingEnvConfig{
		JobName: "abalone-train-1",
		JobArn:  "arn:aws:sagemaker:us-east-1:000000000000:training-job/abalone-train-1",
		HyperParameters: map[string]string{
			"sagemaker_program":             `"train.py"`,
			"sagemaker_submit_directory":    `"s3://bucket/src/sourcedir.tar.gz"`,
			"sagemaker_container_log_level": "10",
			"sagemaker_distributed":         "false",
			"epochs":                        "10",
			"objective":                     "reg:linear",
			"tag":                           `"<a&b>"`,
		},
		Channels: map[string]ChannelConfig{
			"validation": {ContentType: "text/csv", TrainingInputMode: "File", S3DistributionType: "FullyReplicated", RecordWrapperType: "None"},
			"train":      {ContentType: "text/csv", TrainingInputMode: "File", S3DistributionType: "FullyReplicated", RecordWrapperType: "None"},
		},
		Resource: SingleHost("ml.m5.xlarge"),
		NumCPUs:  4,
	}))

	want := map[string]string{
		"TRAINING_JOB_NAME":          "abalone-train-1",
		"TRAINING_JOB_ARN":           "arn:aws:sagemaker:us-east-1:000000000000:training-job/abalone-train-1",
		"SM_MODEL_DIR":               "/opt/ml/model",
		"SM_CHANNELS":                `["train","validation"]`,
		"SM_CHANNEL_TRAIN":           "/opt/ml/input/data/train",
		"SM_CHANNEL_VALIDATION":      "/opt/ml/input/data/validation",
		"SM_HPS":                     `{"epochs":10,"objective":"reg:linear","tag":"<a&b>"}`,
		"SM_HP_EPOCHS":               "10",
		"SM_HP_OBJECTIVE":            "reg:linear",
		"SM_HP_TAG":                  "<a&b>",
		"SM_CURRENT_HOST":            "algo-1",
		"SM_CURRENT_INSTANCE_TYPE":   "ml.m5.xlarge",
		"SM_HOSTS":                   `["algo-1"]`,
		"SM_NUM_CPUS":                "4",
		"SM_NUM_GPUS":                "0",
		"SM_LOG_LEVEL":               "10",
		"SM_NETWORK_INTERFACE_NAME":  "eth0",
		"SM_USER_ARGS":               `["--epochs","10","--objective","reg:linear","--tag","<a&b>"]`,
		"SM_INPUT_DIR":               "/opt/ml/input",
		"SM_INPUT_CONFIG_DIR":        "/opt/ml/input/config",
		"SM_OUTPUT_DIR":              "/opt/ml/output",
		"SM_OUTPUT_DATA_DIR":         "/opt/ml/output/data",
		"SM_OUTPUT_INTERMEDIATE_DIR": "/opt/ml/output/intermediate",
		"SM_RESOURCE_CONFIG":         `{"current_host":"algo-1","current_instance_type":"ml.m5.xlarge","hosts":["algo-1"],"network_interface_name":"eth0"}`,
		"SM_INPUT_DATA_CONFIG":       `{"train":{"ContentType":"text/csv","TrainingInputMode":"File","S3DistributionType":"FullyReplicated","RecordWrapperType":"None"},"validation":{"ContentType":"text/csv","TrainingInputMode":"File","S3DistributionType":"FullyReplicated","RecordWrapperType":"None"}}`,
		"SM_MODULE_DIR":              "s3://bucket/src/sourcedir.tar.gz",
		"SM_MODULE_NAME":             "train",
		"SM_USER_ENTRY_POINT":        "train.py",
		"SM_FRAMEWORK_MODULE":        "",
		"SM_FRAMEWORK_PARAMS":        `{"sagemaker_distributed":false}`,
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}

	var training map[string]any
	if err := json.Unmarshal([]byte(env["SM_TRAINING_ENV"]), &training); err != nil {
		t.Fatalf("SM_TRAINING_ENV is not JSON: %v", err)
	}
	checks := map[string]any{
		"job_name":           "abalone-train-1",
		"is_master":          true,
		"master_hostname":    "algo-1",
		"module_dir":         "s3://bucket/src/sourcedir.tar.gz",
		"user_entry_point":   "train.py",
		"num_cpus":           4.0,
		"log_level":          10.0,
		"hyperparameters":    map[string]any{"epochs": 10.0, "objective": "reg:linear", "tag": "<a&b>"},
		"channel_input_dirs": map[string]any{"train": "/opt/ml/input/data/train", "validation": "/opt/ml/input/data/validation"},
	}
	for k, v := range checks {
		if !reflect.DeepEqual(training[k], v) {
			t.Errorf("SM_TRAINING_ENV[%s] = %#v, want %#v", k, training[k], v)
		}
	}
	// Every SM_* variable of the toolkit's list is also a key of SM_TRAINING_ENV.
	for _, k := range []string{"model_dir", "output_data_dir", "input_data_config", "resource_config", "hosts", "current_host", "network_interface_name", "num_gpus"} {
		if _, ok := training[k]; !ok {
			t.Errorf("SM_TRAINING_ENV has no %q", k)
		}
	}
}

func TestTrainingEnvDefaults(t *testing.T) {
	env := envMap(t, TrainingEnv(TrainingEnvConfig{JobName: "j"}))
	tests := map[string]string{
		"SM_CHANNELS":        "[]",
		"SM_HPS":             "{}",
		"SM_USER_ARGS":       "[]",
		"SM_HOSTS":           `["algo-1"]`,
		"SM_LOG_LEVEL":       "20",
		"SM_RESOURCE_CONFIG": `{"current_host":"algo-1","hosts":["algo-1"],"network_interface_name":"eth0"}`,
	}
	for k, v := range tests {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if env["SM_NUM_CPUS"] == "0" || env["SM_NUM_CPUS"] == "" {
		t.Errorf("SM_NUM_CPUS = %q, want the host's CPU count", env["SM_NUM_CPUS"])
	}
}

func TestTrainingEnvMultiHost(t *testing.T) {
	env := envMap(t, TrainingEnv(TrainingEnvConfig{
		Resource: ResourceConfig{CurrentHost: "algo-2", Hosts: []string{"algo-1", "algo-2"}},
		NumCPUs:  1,
	}))
	var training map[string]any
	if err := json.Unmarshal([]byte(env["SM_TRAINING_ENV"]), &training); err != nil {
		t.Fatal(err)
	}
	if training["is_master"] != false || training["master_hostname"] != "algo-1" {
		t.Errorf("is_master=%v master_hostname=%v, want false, algo-1", training["is_master"], training["master_hostname"])
	}
	if env["SM_NETWORK_INTERFACE_NAME"] != "eth0" {
		t.Errorf("SM_NETWORK_INTERFACE_NAME = %q", env["SM_NETWORK_INTERFACE_NAME"])
	}
}

package runtime

import (
	"bytes"
	"encoding/json"
	"maps"
	"path"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
)

// ChannelConfig is one channel of /opt/ml/input/config/inputdataconfig.json.
type ChannelConfig struct {
	ContentType        string `json:"ContentType,omitempty"`
	TrainingInputMode  string `json:"TrainingInputMode"`
	S3DistributionType string `json:"S3DistributionType"`
	RecordWrapperType  string `json:"RecordWrapperType"`
}

// InstanceGroup is one entry of ResourceConfig.InstanceGroups.
type InstanceGroup struct {
	InstanceGroupName string   `json:"instance_group_name"`
	InstanceType      string   `json:"instance_type"`
	Hosts             []string `json:"hosts"`
}

// ResourceConfig is resourceconfig.json (training: /opt/ml/input/config,
// processing: /opt/ml/config).
type ResourceConfig struct {
	CurrentHost          string          `json:"current_host"`
	CurrentInstanceType  string          `json:"current_instance_type,omitempty"`
	CurrentGroupName     string          `json:"current_group_name,omitempty"`
	Hosts                []string        `json:"hosts"`
	InstanceGroups       []InstanceGroup `json:"instance_groups,omitempty"`
	NetworkInterfaceName string          `json:"network_interface_name"`
}

// SingleHost is the resource configuration of a one-instance job.
func SingleHost(instanceType string) ResourceConfig {
	return ResourceConfig{
		CurrentHost:          "algo-1",
		CurrentInstanceType:  instanceType,
		Hosts:                []string{"algo-1"},
		NetworkInterfaceName: "eth0",
	}
}

// TrainingEnvConfig is what [TrainingEnv] builds the environment from.
type TrainingEnvConfig struct {
	// JobName and JobArn become TRAINING_JOB_NAME and TRAINING_JOB_ARN.
	JobName string
	JobArn  string
	// HyperParameters as sent in CreateTrainingJob.
	HyperParameters map[string]string
	// Channels is InputDataConfig keyed by channel name.
	Channels map[string]ChannelConfig
	// Resource is the host layout; zero means [SingleHost].
	Resource ResourceConfig
	// NumCPUs defaults to the host's CPU count; NumGPUs to 0.
	NumCPUs int
	NumGPUs int
}

// TrainingEnv returns the environment of SageMaker's training toolkit ("KEY=value",
// sorted): TRAINING_JOB_NAME, TRAINING_JOB_ARN and every SM_* variable a
// script-mode training script reads (SM_MODEL_DIR, SM_CHANNELS, SM_CHANNEL_<NAME>,
// SM_HPS, SM_HP_<NAME>, SM_USER_ARGS, SM_TRAINING_ENV, ...). Paths are the
// /opt/ml paths a job sees.
func TrainingEnv(c TrainingEnvConfig) []string {
	rc := c.Resource
	if rc.CurrentHost == "" {
		rc = SingleHost(rc.CurrentInstanceType)
	}
	if rc.NetworkInterfaceName == "" {
		rc.NetworkInterfaceName = "eth0"
	}
	if rc.Hosts == nil {
		rc.Hosts = []string{rc.CurrentHost}
	}
	numCPUs := c.NumCPUs
	if numCPUs == 0 {
		numCPUs = goruntime.NumCPU()
	}
	channels := c.Channels
	if channels == nil {
		channels = map[string]ChannelConfig{}
	}
	user, framework := decodeHyperParameters(c.HyperParameters)

	program, _ := framework["sagemaker_program"].(string)
	moduleDir, _ := framework["sagemaker_submit_directory"].(string)
	logLevel := 20
	if n, ok := framework["sagemaker_container_log_level"].(json.Number); ok {
		if v, err := strconv.Atoi(n.String()); err == nil {
			logLevel = v
		}
	}
	// The toolkit's "additional framework parameters" are the sagemaker_* keys it
	// does not consume itself.
	extra := map[string]any{}
	for k, v := range framework {
		if !slices.Contains(reservedHyperParameters, k) {
			extra[k] = v
		}
	}

	names := append([]string{}, slices.Sorted(maps.Keys(channels))...)
	channelDirs := map[string]string{}
	for _, name := range names {
		channelDirs[name] = path.Join(InputDataDir, name)
	}
	master := rc.Hosts[0]
	if len(rc.Hosts) > 1 {
		master = slices.Min(rc.Hosts)
	}

	training := map[string]any{
		"additional_framework_parameters": extra,
		"channel_input_dirs":              channelDirs,
		"current_host":                    rc.CurrentHost,
		"framework_module":                "",
		"hosts":                           rc.Hosts,
		"hyperparameters":                 user,
		"input_config_dir":                InputConfigDir,
		"input_data_config":               channels,
		"input_dir":                       InputDir,
		"is_master":                       rc.CurrentHost == master,
		"job_name":                        c.JobName,
		"log_level":                       logLevel,
		"master_hostname":                 master,
		"model_dir":                       ModelDir,
		"module_dir":                      moduleDir,
		"module_name":                     strings.TrimSuffix(program, ".py"),
		"network_interface_name":          rc.NetworkInterfaceName,
		"num_cpus":                        numCPUs,
		"num_gpus":                        c.NumGPUs,
		"output_data_dir":                 OutputDataDir,
		"output_dir":                      OutputDir,
		"output_intermediate_dir":         OutputIntermediateDir,
		"resource_config":                 rc,
		"user_entry_point":                program,
	}
	if rc.CurrentInstanceType != "" {
		training["current_instance_type"] = rc.CurrentInstanceType
	}

	env := map[string]string{
		"TRAINING_JOB_NAME":          c.JobName,
		"TRAINING_JOB_ARN":           c.JobArn,
		"SM_MODEL_DIR":               ModelDir,
		"SM_CHANNELS":                jsonText(names),
		"SM_HPS":                     jsonText(user),
		"SM_CURRENT_HOST":            rc.CurrentHost,
		"SM_HOSTS":                   jsonText(rc.Hosts),
		"SM_NUM_CPUS":                strconv.Itoa(numCPUs),
		"SM_NUM_GPUS":                strconv.Itoa(c.NumGPUs),
		"SM_LOG_LEVEL":               strconv.Itoa(logLevel),
		"SM_NETWORK_INTERFACE_NAME":  rc.NetworkInterfaceName,
		"SM_USER_ARGS":               jsonText(userArgs(c.HyperParameters)),
		"SM_INPUT_DIR":               InputDir,
		"SM_INPUT_CONFIG_DIR":        InputConfigDir,
		"SM_OUTPUT_DIR":              OutputDir,
		"SM_OUTPUT_DATA_DIR":         OutputDataDir,
		"SM_OUTPUT_INTERMEDIATE_DIR": OutputIntermediateDir,
		"SM_RESOURCE_CONFIG":         jsonText(rc),
		"SM_INPUT_DATA_CONFIG":       jsonText(channels),
		"SM_MODULE_DIR":              moduleDir,
		"SM_MODULE_NAME":             strings.TrimSuffix(program, ".py"),
		"SM_USER_ENTRY_POINT":        program,
		"SM_FRAMEWORK_MODULE":        "",
		"SM_FRAMEWORK_PARAMS":        jsonText(extra),
		"SM_TRAINING_ENV":            jsonText(training),
	}
	if rc.CurrentInstanceType != "" {
		env["SM_CURRENT_INSTANCE_TYPE"] = rc.CurrentInstanceType
	}
	for _, name := range names {
		env["SM_CHANNEL_"+strings.ToUpper(name)] = channelDirs[name]
	}
	for k, v := range user {
		if s, ok := v.(string); ok {
			env["SM_HP_"+strings.ToUpper(k)] = s
		} else {
			env["SM_HP_"+strings.ToUpper(k)] = jsonText(v)
		}
	}

	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}

// jsonText encodes v compactly, without HTML escaping (a script reads it back
// with json.loads; "<" must stay "<").
func jsonText(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only values built above are encoded; they always encode.
		panic("runtime: encoding training environment: " + err.Error())
	}
	return strings.TrimSuffix(b.String(), "\n")
}

#include "pipeline/model/diffusers_config.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "pipeline/model/json_fields.h"

namespace reel {
namespace {

// A field that must hold one value for reel to compute what diffusers computes.
template <typename T>
void Expect(JsonFields& f, const nlohmann::json& j, const std::string& key, const T& wanted,
            const std::string& why) {
  T value = wanted;
  f.Optional(key, value);
  if (value != wanted) {
    f.Error(absl::StrCat("'", key, "' = ", nlohmann::json(value).dump(), " is not supported (", why,
                         "); expected ", nlohmann::json(wanted).dump()));
  }
  (void)j;
}

// Fields read and deliberately not used; the comment at each call says why.
void Accept(JsonFields& f, const std::string& key) {
  nlohmann::json ignored;
  f.Optional(key, ignored);
}

// An integer field that diffusers lets be null (meaning `fallback`).
void OptionalOrNull(JsonFields& f, const nlohmann::json& j, const std::string& key, int& out,
                    int fallback) {
  if (j.is_object() && j.contains(key) && j.at(key).is_null()) {
    Accept(f, key);
    out = fallback;
    return;
  }
  f.Optional(key, out);
}

// Python's json.dump (which diffusers and transformers use) writes the non-standard tokens NaN,
// Infinity and -Infinity (e.g. DPMSolverMultistepScheduler's "lambda_min_clipped": -Infinity).
// They become null outside strings; every field that may hold one is one reel does not use.
std::string ReplacePythonNumbers(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') in_string = true;
    bool replaced = false;
    for (const std::string_view token : {"-Infinity", "Infinity", "NaN"}) {
      if (text.compare(i, token.size(), token) == 0) {
        out += "null";
        i += token.size() - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) out += c;
  }
  return out;
}

}  // namespace

absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("no file '", path, "'"));
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  nlohmann::json j =
      nlohmann::json::parse(ReplacePythonNumbers(text), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(path, ": not valid JSON"));
  return j;
}

absl::StatusOr<DitConfig> ParseSanaVideoTransformerConfig(const nlohmann::json& j,
                                                          int* sample_size_out) {
  JsonFields f(j, "transformer/config.json");
  std::string cls;
  f.Required("_class_name", cls);
  if (cls == "SanaVideoCausalTransformer3DModel") {
    f.Error(
        "'_class_name' SanaVideoCausalTransformer3DModel (LongSANA, block-causal) is not "
        "supported yet: reel serves the bidirectional SanaVideoTransformer3DModel");
  } else if (!cls.empty() && cls != "SanaVideoTransformer3DModel") {
    f.Error(absl::StrCat("'_class_name' is '", cls, "', expected SanaVideoTransformer3DModel"));
  }
  Accept(f, "_diffusers_version");  // provenance
  Accept(f, "_name_or_path");       // provenance

  // The class's defaults (diffusers fills a missing field with them).
  DitConfig c;
  c.temporal_conv = TemporalConvMode::kCentered;  // the official model's conv_temp pads both ends
  c.in_channels = 16;
  int out_channels = 16, heads = 20, head_dim = 112, layers = 20, cross_heads = 20,
      cross_head_dim = 112, cross_dim = 2240, caption = 2304, sample_size = 30;
  double mlp_ratio = 2.5;
  std::vector<int> patch = {1, 2, 2};
  f.Optional("in_channels", c.in_channels);
  OptionalOrNull(f, j, "out_channels", out_channels, c.in_channels);
  f.Optional("num_attention_heads", heads);
  f.Optional("attention_head_dim", head_dim);
  f.Optional("num_layers", layers);
  OptionalOrNull(f, j, "num_cross_attention_heads", cross_heads, heads);
  OptionalOrNull(f, j, "cross_attention_head_dim", cross_head_dim, head_dim);
  OptionalOrNull(f, j, "cross_attention_dim", cross_dim, heads * head_dim);
  f.Optional("caption_channels", caption);
  f.Optional("mlp_ratio", mlp_ratio);
  Accept(f, "dropout");  // inference: dropout is the identity
  Expect(f, j, "attention_bias", false, "the self-attention's q/k/v have no bias in reel");
  f.Optional("sample_size", sample_size);  // the default resolution bin (SanaVideoDefaultsFor)
  f.Optional("patch_size", patch);
  Expect(f, j, "norm_elementwise_affine", false, "the block norms carry no weights in reel");
  f.Optional("norm_eps", c.norm_eps);
  Accept(f, "interpolation_scale");  // stored by the class but not used by its forward
  Expect(f, j, "guidance_embeds", false, "guidance-distilled timestep embedding");
  Accept(f, "guidance_embeds_scale");  // read only when guidance_embeds is true
  Expect(f, j, "qk_norm", std::string("rms_norm_across_heads"),
         "q/k RMSNorm over all heads is what reel computes");
  f.Optional("rope_max_seq_len", c.rope_max_seq_len);

  c.out_channels = out_channels;
  c.num_heads = heads;
  c.head_dim = head_dim;
  c.hidden_size = heads * head_dim;
  c.num_layers = layers;
  c.cross_num_heads = cross_heads;
  c.cross_head_dim = cross_head_dim;
  c.caption_dim = caption;
  // diffusers: int(mlp_ratio · inner_dim) in GLUMBTempConv.
  c.ffn_hidden = static_cast<int>(mlp_ratio * c.hidden_size);
  // Fixed by the diffusers code rather than the config: q/k norms (Attention's default eps),
  // caption_norm, norm_out, the linear attention's 1e-15 and WanRotaryPosEmbed's theta.
  c.qk_norm_eps = 1e-5f;
  c.caption_norm_eps = 1e-5f;
  c.out_norm_eps = 1e-6f;
  c.attn_eps = 1e-15f;
  c.rope_theta = 10000.0f;
  if (patch.size() != 3 || patch[0] < 1 || patch[1] < 1 || patch[2] < 1) {
    f.Error("'patch_size' must be three positive integers [t, h, w]");
  } else {
    c.patch_size = {patch[0], patch[1], patch[2]};
  }
  if (cross_dim != c.hidden_size) {
    f.Error(absl::StrCat("'cross_attention_dim' ", cross_dim,
                         " != num_attention_heads × "
                         "attention_head_dim (",
                         c.hidden_size, ") is not supported"));
  }
  if (cross_heads * cross_head_dim != c.hidden_size) {
    f.Error("num_cross_attention_heads × cross_attention_head_dim must equal the hidden size");
  }
  if (head_dim % 2 != 0 || head_dim < 6) f.Error("'attention_head_dim' must be even and >= 6");
  if (c.in_channels <= 0 || c.out_channels <= 0 || layers <= 0 || caption <= 0 ||
      c.ffn_hidden <= 0 || c.rope_max_seq_len <= 0 || sample_size <= 0) {
    f.Error("sizes must be positive");
  }
  absl::Status s = f.Finish();
  if (!s.ok()) return s;
  if (sample_size_out != nullptr) *sample_size_out = sample_size;
  return c;
}

absl::StatusOr<SamplerConfig> ParseFlowDpmSchedulerConfig(const nlohmann::json& j) {
  JsonFields f(j, "scheduler/config.json");
  SamplerConfig c;
  c.steps = 50;       // pipeline_sana_video.py __call__: num_inference_steps
  c.cfg_scale = 6.0;  // guidance_scale
  c.num_train_timesteps = 1000;
  c.flow_shift = 1.0f;  // the scheduler class's default
  std::string cls;
  f.Required("_class_name", cls);
  if (cls == "FlowMatchEulerDiscreteScheduler" || cls == "UniPCMultistepScheduler") {
    f.Error(absl::StrCat("'_class_name' ", cls,
                         " is not supported yet; reel runs the "
                         "DPMSolverMultistepScheduler the SANA-Video checkpoint ships"));
  } else if (!cls.empty() && cls != "DPMSolverMultistepScheduler") {
    f.Error(absl::StrCat("'_class_name' is '", cls, "', expected DPMSolverMultistepScheduler"));
  }
  Accept(f, "_diffusers_version");  // provenance
  f.Optional("num_train_timesteps", c.num_train_timesteps);
  // The DDPM β schedule: with use_flow_sigmas the σ come from the flow formula instead.
  Accept(f, "beta_start");
  Accept(f, "beta_end");
  Accept(f, "beta_schedule");
  Accept(f, "trained_betas");
  Accept(f, "rescale_betas_zero_snr");
  // Spacing of the DDPM timesteps the flow branch replaces.
  Accept(f, "timestep_spacing");
  Accept(f, "steps_offset");
  Accept(f, "lambda_min_clipped");
  int order = 2;
  f.Optional("solver_order", order);
  if (order == 1) {
    c.solver = "euler";  // first-order DPM-Solver++ on flow sigmas is exactly the Euler step
  } else if (order == 2) {
    c.solver = "dpm++2m";
  } else {
    f.Error(absl::StrCat("'solver_order' ", order, " is not supported; expected 1 or 2"));
  }
  Expect(f, j, "prediction_type", std::string("flow_prediction"),
         "the SANA-Video transformer predicts the flow velocity");
  Expect(f, j, "thresholding", false, "dynamic thresholding of x0");
  Accept(f, "dynamic_thresholding_ratio");  // read only with thresholding
  Accept(f, "sample_max_value");            // read only with thresholding
  Expect(f, j, "algorithm_type", std::string("dpmsolver++"), "reel runs DPM-Solver++");
  Expect(f, j, "solver_type", std::string("midpoint"), "reel's 2M step is the midpoint form");
  // With final_sigmas_type "zero" (required below) the last step is first order whatever these
  // say, so they change nothing.
  Accept(f, "lower_order_final");
  Accept(f, "euler_at_final");
  Expect(f, j, "use_karras_sigmas", false, "Karras σ");
  Expect(f, j, "use_exponential_sigmas", false, "exponential σ");
  Expect(f, j, "use_beta_sigmas", false, "beta σ");
  Expect(f, j, "use_lu_lambdas", false, "Lu λ spacing");
  Expect(f, j, "use_flow_sigmas", true, "reel samples flow-matching models");
  f.Optional("flow_shift", c.flow_shift);
  Expect(f, j, "final_sigmas_type", std::string("zero"), "the last step lands on σ = 0");
  if (j.is_object() && j.contains("variance_type") && !j.at("variance_type").is_null()) {
    f.Error("'variance_type' must be null (learned variance is for ε-prediction)");
  }
  Accept(f, "variance_type");
  Expect(f, j, "use_dynamic_shifting", false, "resolution-dependent shifting");
  Accept(f, "time_shift_type");  // read only with use_dynamic_shifting
  Accept(f, "sigma_min");        // read only by the Karras/exponential/beta σ
  Accept(f, "sigma_max");
  if (c.num_train_timesteps < 2) f.Error("'num_train_timesteps' must be >= 2");
  if (!(c.flow_shift > 0)) f.Error("'flow_shift' must be positive");
  absl::Status s = f.Finish();
  if (!s.ok()) return s;
  return c;
}

absl::StatusOr<SanaVideoIndex> ParseSanaVideoIndex(const nlohmann::json& j) {
  JsonFields f(j, "model_index.json");
  SanaVideoIndex index;
  f.Required("_class_name", index.pipeline_class);
  if (index.pipeline_class != "SanaVideoPipeline" && !index.pipeline_class.empty()) {
    f.Error(absl::StrCat("'_class_name' is '", index.pipeline_class,
                         "'; reel serves SanaVideoPipeline (text-to-video; LongSANA and "
                         "image-to-video pipelines are not supported yet)"));
  }
  Accept(f, "_diffusers_version");  // provenance
  Accept(f, "_name_or_path");       // provenance
  struct Component {
    const char* name;
    std::vector<std::string> classes;
  };
  const Component components[] = {
      {"tokenizer", {"GemmaTokenizer", "GemmaTokenizerFast"}},
      {"text_encoder", {"Gemma2Model", "Gemma2ForCausalLM"}},
      {"transformer", {"SanaVideoTransformer3DModel"}},
      {"vae", {"AutoencoderKLWan"}},
      {"scheduler", {"DPMSolverMultistepScheduler"}},
  };
  for (const Component& c : components) {
    nlohmann::json entry;
    f.Required(c.name, entry);
    if (entry.is_null() && !(j.is_object() && j.contains(c.name))) continue;  // reported missing
    if (!entry.is_array() || entry.size() != 2 || !entry[1].is_string()) {
      f.Error(absl::StrCat("'", c.name, "' must be [library, class]"));
      continue;
    }
    const std::string cls = entry[1].get<std::string>();
    if (std::find(c.classes.begin(), c.classes.end(), cls) == c.classes.end()) {
      f.Error(absl::StrCat("'", c.name, "' is ", cls,
                           "; supported: ", nlohmann::json(c.classes).dump()));
    }
    index.components.push_back(c.name);
  }
  absl::Status s = f.Finish();
  if (!s.ok()) return s;
  return index;
}

SanaVideoDefaults SanaVideoDefaultsFor(int sample_size, int patch, int vae_spatial_factor) {
  SanaVideoDefaults d;
  if (sample_size == 30) return d;  // ASPECT_RATIO_480_BIN "0.57": 480 x 832
  if (sample_size == 22) {          // ASPECT_RATIO_720_BIN "0.57": 704 x 1280
    d.width = 1280;
    d.height = 704;
    return d;
  }
  d.width = d.height = sample_size * patch * vae_spatial_factor;
  return d;
}

}  // namespace reel

// The case list and the device peaks: pure host code, testable without a GPU.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

#include "cuda_plugin.hpp"

namespace calib::cuda {

std::string pattern_name(Pattern p) {
    switch (p) {
        case Pattern::bias: return "Linear_Bias";
        case Pattern::bias_relu: return "Linear_Bias_ReLU";
        case Pattern::bias_gelu: return "Linear_Bias_GELU";
        case Pattern::full_attention: return "FullAttention";
    }
    return "?";
}

std::vector<std::string> operators(Pattern p) {
    switch (p) {
        case Pattern::bias: return {"matmul", "add"};
        case Pattern::bias_relu: return {"matmul", "add", "relu"};
        case Pattern::bias_gelu: return {"matmul", "add", "gelu"};
        case Pattern::full_attention: return {"matmul", "mul", "softmax", "matmul"};
    }
    return {};
}

// As the CPU fused_attention plugin counts FullAttention (same profile key): two GEMMs (4 S^2 D) plus
// scale and softmax (6 S^2: scale, max, subtract, exp, sum, divide).
double attention_flops(int64_t b, int64_t s, int64_t d) {
    const double bd = static_cast<double>(b), sd = static_cast<double>(s), dd = static_cast<double>(d);
    return bd * (4 * sd * sd * dd + 6 * sd * sd);
}

double attention_bytes(int64_t b, int64_t s, int64_t d, double element_bytes, calib_fusion_role role) {
    const double x = static_cast<double>(b) * static_cast<double>(s) * static_cast<double>(d);
    const double p = static_cast<double>(b) * static_cast<double>(s) * static_cast<double>(s);
    return (role == CALIB_ROLE_FUSED ? 4 * x : 4 * x + 4 * p) * element_bytes;
}

double flops_per_sm_clock(int cc_major, int cc_minor, const std::string& math) {
    // Dense rates per SM per clock from NVIDIA's whitepapers: A100 (sm_80) 312 TFLOP/s bf16 = 108 SMs x
    // 1.41 GHz x 2048; H100 SXM (sm_90) 989 TFLOP/s bf16 = 132 SMs x 1.83 GHz x 4096, tf32 half of that,
    // fp8 twice, fp32 on CUDA cores 128 lanes x 2; Ada (sm_89): 128 fp32 lanes, tensor rates at half
    // Hopper's per SM.
    const int cc = cc_major * 10 + cc_minor;
    struct Row {
        int cc;
        double fp32, tf32, half, fp8;
    };
    static constexpr std::array<Row, 3> table{{
        {80, 128, 1024, 2048, 0},
        {89, 256, 512, 1024, 2048},
        {90, 256, 2048, 4096, 8192},
    }};
    for (const auto& r : table) {
        if (r.cc != cc) continue;
        if (math == "fp32") return r.fp32;
        if (math == "tf32") return r.tf32;
        if (math == "bf16" || math == "fp16") return r.half;
        if (math == "fp8_e4m3") return r.fp8;
    }
    return 0;
}

std::vector<sdk::Peak> device_peaks(const DeviceFacts& d) {
    std::vector<sdk::Peak> out;
    if (!d.available) return out;
    const std::string cc = std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor);
    for (const char* math : {"fp32", "tf32", "bf16", "fp16", "fp8_e4m3"}) {
        const double per_clock = flops_per_sm_clock(d.cc_major, d.cc_minor, math);
        if (per_clock <= 0) continue;
        sdk::Peak p;
        p.precision = math;
        p.gflops = d.sm_count * (d.clock_khz * 1e3) * per_clock / 1e9;
        char buf[256];
        std::snprintf(buf, sizeof buf,
                      "%d SMs x %.0f MHz (cudaDevAttrClockRate) x %.0f dense %s FLOPs/SM/clock (cc %s, NVIDIA "
                      "published rates)",
                      d.sm_count, d.clock_khz / 1e3, per_clock, math, cc.c_str());
        p.formula = buf;
        out.push_back(std::move(p));
    }
    if (d.mem_clock_khz > 0 && d.bus_width_bits > 0) {
        sdk::Peak p;
        p.precision = "memory";
        p.bandwidth_gbps = 2.0 * (d.mem_clock_khz * 1e3) * (d.bus_width_bits / 8.0) / 1e9;
        char buf[256];
        std::snprintf(buf, sizeof buf,
                      "2 (double data rate) x %.0f MHz (cudaDevAttrMemoryClockRate) x %d bits "
                      "(cudaDevAttrGlobalMemoryBusWidth) / 8",
                      d.mem_clock_khz / 1e3, d.bus_width_bits);
        p.formula = buf;
        out.push_back(std::move(p));
    }
    return out;
}

namespace {

std::size_t in_size(const std::string& math) {
    if (math == "fp32" || math == "tf32") return 4;
    if (math == "fp8_e4m3") return 1;
    return 2;
}
// fp8 products are written in bf16 (cuBLASLt's usual fp8 output); others in their input type.
std::size_t out_size(const std::string& math) { return math == "fp8_e4m3" ? 2 : in_size(math); }
// Case precision: origin strings only; tf32 is fp32 storage with the "math" param saying tf32.
std::string precision_of(const std::string& math) { return math == "tf32" ? "fp32" : math; }

std::string mib_label(std::size_t bytes) {
    const double mib = static_cast<double>(bytes) / (1 << 20);
    char buf[32];
    std::snprintf(buf, sizeof buf, mib == std::floor(mib) ? "%.0fMiB" : "%.1fMiB", mib);
    return buf;
}

void add_gemm_cases(std::vector<CaseEntry>& out) {
    struct Shape {
        int64_t m, k, n;
        bool square, quick;
    };
    const std::array<Shape, 7> shapes{{{1024, 1024, 1024, true, true},
                                       {2048, 2048, 2048, true, true},
                                       {4096, 4096, 4096, true, false},
                                       {8192, 8192, 8192, true, false},
                                       {1, 4096, 4096, false, false},
                                       {32, 4096, 4096, false, true},
                                       {128, 4096, 4096, false, false}}};
    // The headline GEMM of each math, the largest square one (8192^3), is also measured over a sustained
    // window (CaseSpec::sustained): the burst figure of a large GEMM runs at boost clocks before the
    // power cap or heat pulls them down.
    int64_t largest_square = 0;
    for (const auto& s : shapes)
        if (s.square) largest_square = std::max(largest_square, s.n);
    for (const std::string math : {"fp32", "tf32", "bf16", "fp16", "fp8_e4m3"}) {
        for (const auto& s : shapes) {
            CaseEntry e;
            auto& c = e.spec;
            c.family = CALIB_FAMILY_COMPUTE;
            c.operation_type = "matmul";
            c.precision = precision_of(math);
            c.shape = {s.m, s.k, s.n};
            const double m = static_cast<double>(s.m), k = static_cast<double>(s.k), n = static_cast<double>(s.n);
            c.flops = 2.0 * m * k * n;
            c.bytes = (m * k + k * n) * static_cast<double>(in_size(math)) + m * n * static_cast<double>(out_size(math));
            c.quick = s.quick;
            c.sustained = s.square && s.n == largest_square;
            const std::string stem = "matmul_" + math + "_";
            if (s.square) {
                c.name = stem + std::to_string(s.n);
                c.params = {{"matrix_size", std::to_string(s.n)}};
            } else {
                c.name = stem + std::to_string(s.m) + "x" + std::to_string(s.k) + "x" + std::to_string(s.n);
                c.params = {{"m", std::to_string(s.m)}, {"k", std::to_string(s.k)}, {"n", std::to_string(s.n)}};
            }
            c.params.emplace_back("math", math);
            if (math == "fp8_e4m3") c.params.emplace_back("output_precision", "bf16");
            // fp8 cuBLASLt kernels need B as N x K ("TN"); the others use torch.matmul's K x N.
            c.params.emplace_back("b_layout", math == "fp8_e4m3" ? "NxK" : "KxN");
            e.def = {Kind::gemm, math, s.m, s.k, s.n, 0, Pattern::bias, CALIB_ROLE_NONE, {}};
            out.push_back(std::move(e));
        }
    }
}

void add_memory_cases(std::vector<CaseEntry>& out, int64_t l2, const std::string& memory) {
    // Working sets (all arrays of the kernel) from a quarter of the L2 to 16x it: L2-resident,
    // around the L2 size, and DRAM-bound (>= 4x the L2).
    const std::array<double, 7> multiples{0.25, 0.5, 1, 2, 4, 8, 16};
    struct K {
        Kind kind;
        const char* name;
        int arrays;
    };
    for (const K k : {K{Kind::copy_kernel, "copy", 2}, K{Kind::memcpy, "memcpy", 2}, K{Kind::triad, "triad", 3}}) {
        for (std::size_t i = 0; i < multiples.size(); ++i) {
            // Each array a whole number of MiB/16 so vector kernels see aligned, divisible sizes.
            const double target = multiples[i] * static_cast<double>(l2) / k.arrays;
            const std::size_t unit = 1 << 16;
            const std::size_t array_bytes = std::max<std::size_t>(unit, static_cast<std::size_t>(target / unit) * unit);
            const std::size_t ws = array_bytes * static_cast<std::size_t>(k.arrays);
            CaseEntry e;
            auto& c = e.spec;
            c.name = std::string("device_") + k.name + "_" + mib_label(ws);
            c.family = CALIB_FAMILY_MEMORY;
            // A memory sweep point (calib/vocabulary.h): not an origin type, with a kernel and a working
            // set; the host files it under L2 or HBM from the device's last cache size, not the host's.
            c.operation_type = std::string("device_") + k.name;
            c.precision = "fp32";
            c.shape = {static_cast<int64_t>(array_bytes / 4)};
            c.bytes = static_cast<double>(ws);  // each array read or written once, no write-allocate
            c.flops = k.kind == Kind::triad ? 2.0 * static_cast<double>(array_bytes / 4) : 0.0;
            c.quick = i + 1 == multiples.size();
            char mult[16];
            std::snprintf(mult, sizeof mult, "%g", multiples[i]);
            c.params = {{"kernel", k.kind == Kind::triad ? "triad" : "copy"},  // cudaMemcpy is a copy too
                        {"working_set_bytes", std::to_string(ws)},
                        {"last_cache_bytes", std::to_string(l2)},
                        {"device_memory", memory},
                        {"l2_multiple", mult}};
            e.def = {k.kind, "fp32", 0, 0, 0, array_bytes, Pattern::bias, CALIB_ROLE_NONE, {}};
            out.push_back(std::move(e));
        }
    }
}

// What the two cases of one fusion comparison share; `bytes` differs per role.
struct FusionPairSpec {
    Kind kind;
    Pattern pattern;
    std::string precision;
    std::array<int64_t, 3> shape;
    std::string operation_type;  // origin vocabulary: "linear", "attention"
    double flops = 0;            // the same for both roles: fusion changes traffic, not arithmetic
    bool quick = false;
    sdk::Params key_params;      // the origin's key params ("batch", ...)
};

// Appends "<pattern>_<precision>_<AxBxC>_fused" and "..._unfused" in group "<pattern>_<precision>_<AxBxC>",
// with "operators" and "num_operators" added to the key params.
template <class BytesOf>
void add_pair(std::vector<CaseEntry>& out, const FusionPairSpec& f, BytesOf bytes_of) {
    const auto& s = f.shape;
    const std::string group = pattern_name(f.pattern) + "_" + f.precision + "_" + std::to_string(s[0]) + "x" +
                              std::to_string(s[1]) + "x" + std::to_string(s[2]);
    const auto ops = operators(f.pattern);
    std::string op_list;
    for (const auto& o : ops) op_list += (op_list.empty() ? "" : ",") + o;
    for (calib_fusion_role role : {CALIB_ROLE_FUSED, CALIB_ROLE_UNFUSED}) {
        CaseEntry e;
        auto& c = e.spec;
        c.name = group + (role == CALIB_ROLE_FUSED ? "_fused" : "_unfused");
        c.family = CALIB_FAMILY_FUSION;
        c.operation_type = f.operation_type;
        c.precision = f.precision;
        c.shape = {s[0], s[1], s[2]};
        c.flops = f.flops;
        c.bytes = bytes_of(role);
        c.fusion_pattern = pattern_name(f.pattern);
        c.fusion_role = role;
        c.fusion_group = group;
        c.quick = f.quick;
        c.params = f.key_params;
        c.params.emplace_back("operators", op_list);
        c.params.emplace_back("num_operators", std::to_string(ops.size()));
        e.def = {f.kind, f.precision, s[0], s[1], s[2], 0, f.pattern, role, {}};
        out.push_back(std::move(e));
    }
}

void add_fusion_cases(std::vector<CaseEntry>& out) {
    // The CPU fusion plugin's shapes plus one a GPU needs to be busy.
    const std::array<std::array<int64_t, 3>, 5> shapes{
        {{128, 512, 512}, {512, 1024, 1024}, {1024, 2048, 2048}, {2048, 2048, 2048}, {8192, 4096, 4096}}};
    for (Pattern pat : {Pattern::bias, Pattern::bias_relu, Pattern::bias_gelu}) {
        for (std::size_t si = 0; si < shapes.size(); ++si) {
            for (const std::string prec : {"fp32", "bf16"}) {
                const auto& s = shapes[si];
                const double m = static_cast<double>(s[0]), k = static_cast<double>(s[1]), n = static_cast<double>(s[2]);
                // FLOPs and bytes as the CPU plugin (origin.md): 2MKN + MN (+8MN GELU); bytes of the
                // fused chain MK+NK+N+MN, unfused adds each intermediate written and read once.
                const double es = prec == "fp32" ? 4 : 2;
                FusionPairSpec f{Kind::fusion, pat, prec, s, "linear",
                                 2 * m * k * n + m * n + (pat == Pattern::bias_gelu ? 8 * m * n : 0), si == 1,
                                 {{"batch", std::to_string(s[0])},
                                  {"in_features", std::to_string(s[1])},
                                  {"out_features", std::to_string(s[2])}}};
                add_pair(out, f, [&](calib_fusion_role role) {
                    const double outputs = role == CALIB_ROLE_FUSED ? 1 : (pat == Pattern::bias ? 3 : 5);
                    return (m * k + n * k + n + outputs * m * n) * es;
                });
            }
        }
    }
}

void add_attention_cases(std::vector<CaseEntry>& out) {
    // (B, S, D), B = batch x heads: the CPU fused_attention plugin's four, then sizes that fill an H100.
    const std::array<std::array<int64_t, 3>, 7> shapes{{{1, 128, 64},
                                                        {4, 256, 64},
                                                        {8, 512, 64},
                                                        {8, 1024, 64},
                                                        {32, 1024, 64},
                                                        {32, 2048, 64},
                                                        {16, 4096, 64}}};
    for (std::size_t si = 0; si < shapes.size(); ++si) {
        for (const std::string prec : {"bf16", "fp16"}) {
            const auto& s = shapes[si];
            FusionPairSpec f{Kind::attention, Pattern::full_attention, prec, s, "attention",
                             attention_flops(s[0], s[1], s[2]),
                             si == 1 && prec == "bf16",  // the CPU plugin's quick shape
                             {{"batch", std::to_string(s[0])},
                              {"seq_len", std::to_string(s[1])},
                              {"head_dim", std::to_string(s[2])}}};
            add_pair(out, f, [&](calib_fusion_role role) { return attention_bytes(s[0], s[1], s[2], 2, role); });
        }
    }
}

}  // namespace

std::vector<CaseEntry> build_cases(const DeviceFacts& d) {
    std::vector<CaseEntry> out;
    add_gemm_cases(out);
    // The data-centre parts (A100 sm_80, H100/H200 sm_90, B200 sm_100) carry HBM; the others GDDR.
    const bool hbm = (d.cc_major == 8 && d.cc_minor == 0) || d.cc_major == 9 || d.cc_major == 10;
    add_memory_cases(out, d.l2_bytes > 0 ? d.l2_bytes : int64_t{50} << 20,
                     d.cc_major == 0 ? "device memory" : hbm ? "HBM" : "GDDR");
    add_fusion_cases(out);
    add_attention_cases(out);
    return out;
}

}  // namespace calib::cuda

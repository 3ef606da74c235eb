#include "calib_onednn/common.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <random>

namespace calib::onednn {

dnnl::engine& engine() {
    static dnnl::engine e(dnnl::engine::kind::cpu, 0);
    return e;
}

dnnl::stream& stream() {
    static dnnl::stream s(engine());
    return s;
}

dnnl::memory::data_type data_type(const std::string& precision) {
    using dt = dnnl::memory::data_type;
    if (precision == "fp32") return dt::f32;
    if (precision == "bf16") return dt::bf16;
    if (precision == "fp16") return dt::f16;
    if (precision == "int8") return dt::s8;
    sdk::fail(CALIB_UNSUPPORTED, "precision " + precision + " has no oneDNN data type here");
}

std::string cpu_model_name() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("model name", 0) == 0) {
            auto pos = line.find(':');
            if (pos != std::string::npos) {
                auto s = line.substr(pos + 1);
                s.erase(0, s.find_first_not_of(' '));
                return s;
            }
        }
    }
    return "cpu";
}

static dnnl::memory::desc plain_f32_desc(const dnnl::memory::desc& md) {
    auto dims = md.dims();
    dnnl::memory::dims strides(dims.size(), 1);
    for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) strides[i] = strides[i + 1] * dims[i + 1];
    return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, strides);
}

static std::size_t element_count(const dnnl::memory::desc& md) {
    std::size_t n = 1;
    for (auto d : md.dims()) n *= static_cast<std::size_t>(d);
    return n;
}

void fill_from(dnnl::memory& mem, const std::vector<float>& values) {
    auto md = mem.get_desc();
    dnnl::memory src(plain_f32_desc(md), engine());
    std::copy(values.begin(), values.end(), static_cast<float*>(src.get_data_handle()));
    dnnl::reorder(src, mem).execute(stream(), src, mem);
    stream().wait();
}

// Element i of a fill is a hash (splitmix64) of (seed, i): the same values for any thread count,
// and ~10x faster than std::mt19937 over the 16M-element operands of the large cases, whose set-up
// was a visible share of a calibration's wall time.
void fill_random(dnnl::memory& mem, uint32_t seed, float lo, float hi) {
    auto md = mem.get_desc();
    const std::size_t n = element_count(md);
    dnnl::memory src(plain_f32_desc(md), engine());
    float* v = static_cast<float*>(src.get_data_handle());
    const bool integer = md.data_type() == dnnl::memory::data_type::s8 ||
                         md.data_type() == dnnl::memory::data_type::u8 ||
                         md.data_type() == dnnl::memory::data_type::s32;
    const uint64_t base = static_cast<uint64_t>(seed) << 40;
    const float span = hi - lo;
#pragma omp parallel for schedule(static)
    for (std::size_t i = 0; i < n; ++i) {
        uint64_t z = base + i + 0x9e3779b97f4a7c15ULL;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        const float u = static_cast<float>(z >> 40) * 0x1.0p-24f;  // [0, 1)
        const float x = lo + span * u;
        v[i] = integer ? std::round(x) : x;
    }
    dnnl::reorder(src, mem).execute(stream(), src, mem);
    stream().wait();
}

std::vector<float> to_f32(const dnnl::memory& mem) {
    auto md = mem.get_desc();
    dnnl::memory dst(plain_f32_desc(md), engine());
    dnnl::memory src = mem;
    dnnl::reorder(src, dst).execute(stream(), src, dst);
    stream().wait();
    const float* p = static_cast<const float*>(dst.get_data_handle());
    return std::vector<float>(p, p + element_count(md));
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) return INFINITY;
    double m = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        double d = std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
        if (!(d <= m)) m = d;  // NaN propagates as the maximum
    }
    return m;
}

double max_abs(const std::vector<float>& a) {
    double m = 0;
    for (float x : a) m = std::max(m, static_cast<double>(std::fabs(x)));
    return m;
}

std::string impl_name(const dnnl::primitive_desc_base& pd) {
    const char* s = pd.impl_info_str();
    return s != nullptr ? s : "unknown";
}

bool is_reference_impl(const std::string& impl) {
    return impl.find("ref") != std::string::npos;
}

std::string library_version() {
    const dnnl_version_t* v = dnnl_version();
    return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
}

void ChainInstance::describe() {
    params.emplace_back("library", library_version());
    implementation.clear();
    reference_fallback = false;
    for (const auto& s : steps) {
        if (!implementation.empty()) implementation += "+";
        implementation += s.impl;
        if (is_reference_impl(s.impl)) reference_fallback = true;
        params.emplace_back("impl." + s.name, s.impl);
    }
}

void ChainInstance::execute_once() {
    for (auto& s : steps) s.primitive.execute(stream(), s.args);
    stream().wait();
}

double ChainInstance::run(uint64_t iterations) {
    auto& st = stream();
    auto t0 = std::chrono::steady_clock::now();
    for (uint64_t i = 0; i < iterations; ++i)
        for (auto& s : steps) s.primitive.execute(st, s.args);
    st.wait();
    auto t1 = std::chrono::steady_clock::now();
    return std::chrono::duration<double>(t1 - t0).count();
}

}  // namespace calib::onednn

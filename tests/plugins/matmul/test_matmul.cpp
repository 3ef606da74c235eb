#include <catch2/catch.hpp>

#include <fstream>
#include <set>
#include <sstream>

#include "matmul_plugin.hpp"

using namespace calib;
using namespace calib::matmul;
using tag = dnnl::memory::format_tag;

namespace {

bool cpu_has_flag(const std::string& flag) {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("flags", 0) != 0) continue;
        std::istringstream words(line);
        std::string w;
        while (words >> w)
            if (w == flag) return true;
        return false;
    }
    return false;
}

const sdk::CaseSpec& find_case(const std::vector<sdk::CaseSpec>& cases, const std::string& name) {
    for (const auto& c : cases)
        if (c.name == name) return c;
    FAIL("no case " << name);
    throw;
}

void execute(dnnl::primitive& prim, dnnl::memory& a, dnnl::memory& b, dnnl::memory& c) {
    prim.execute(onednn::stream(), {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
    onednn::stream().wait();
}

}  // namespace

TEST_CASE("matmul case list has the square and inference shapes with 2MKN flops", "[matmul]") {
    const auto cases = case_list();
    CHECK(cases.size() == 4 * 8);
    std::set<std::string> names;
    for (const auto& c : cases) {
        names.insert(c.name);
        REQUIRE(c.shape.size() == 3);
        const double m = static_cast<double>(c.shape[0]), k = static_cast<double>(c.shape[1]),
                     n = static_cast<double>(c.shape[2]);
        CHECK(c.operation_type == "matmul");
        CHECK(c.family == CALIB_FAMILY_COMPUTE);
        CHECK(c.flops == Approx(2.0 * m * k * n));
        const double in = c.precision == "fp32" ? 4 : c.precision == "int8" ? 1 : 2;
        const double out = c.precision == "fp32" || c.precision == "int8" ? 4 : 2;
        CHECK(c.bytes == Approx((m * k + k * n) * in + m * n * out));
    }
    CHECK(names.size() == cases.size());  // unique

    const auto& sq = find_case(cases, "matmul_fp32_1024");
    CHECK(sq.shape == std::vector<int64_t>{1024, 1024, 1024});
    CHECK(sq.params == sdk::Params{{"matrix_size", "1024"}});
    CHECK(sq.quick);
    CHECK_FALSE(find_case(cases, "matmul_bf16_4096").quick);

    const auto& inf = find_case(cases, "matmul_int8_32x4096x4096");
    CHECK(inf.shape == std::vector<int64_t>{32, 4096, 4096});
    CHECK(inf.params == sdk::Params{{"m", "32"}, {"k", "4096"}, {"n", "4096"}});
    CHECK(inf.quick);
    CHECK(inf.bytes == Approx(32.0 * 4096 + 4096.0 * 4096 + 32.0 * 4096 * 4));
    for (const char* n : {"matmul_fp16_1x4096x4096", "matmul_fp32_128x4096x4096", "matmul_bf16_256",
                          "matmul_int8_512", "matmul_fp32_2048"})
        CHECK(names.count(n) == 1);
}

TEST_CASE("fp32, bf16 and int8 small matmuls verify", "[matmul]") {
    for (const std::string precision : {"fp32", "bf16", "int8"}) {
        INFO(precision);
        const Problem p = verification_problem(precision);
        const Verification v = verify(p, make_primitive_desc(p));
        CHECK(v.passed);
        CHECK(v.max_abs_error <= v.tolerance);
        if (precision == "int8") {
            CHECK(v.tolerance == 0);
        } else {
            CHECK(v.tolerance > 0);
        }
    }
    // bf16 is checked against a looser tolerance than fp32 for the same problem.
    const Problem f = verification_problem("fp32"), b = verification_problem("bf16");
    CHECK(verify(b, make_primitive_desc(b)).tolerance > verify(f, make_primitive_desc(f)).tolerance);
}

TEST_CASE("verification catches wrong kernels", "[matmul]") {
    const Problem p = verification_problem("fp32");
    const dnnl::memory::desc plain_b({p.k, p.n}, dnnl::memory::data_type::f32, tag::ab);

    SECTION("a primitive built for transposed B") {
        // Same dims, but it reads B's buffer as column-major: wrong for the plain B it is given.
        const dnnl::memory::desc transposed_b({p.k, p.n}, dnnl::memory::data_type::f32, tag::ba);
        const dnnl::memory::desc a_md({p.m, p.k}, dnnl::memory::data_type::f32, tag::ab);
        const dnnl::memory::desc c_md({p.m, p.n}, dnnl::memory::data_type::f32, tag::ab);
        dnnl::matmul prim(dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_md, transposed_b, c_md),
                                                       onednn::engine()));
        const Verification v = verify(p, plain_b, [&](dnnl::memory& a, dnnl::memory& b, dnnl::memory& c) {
            dnnl::memory b_as_transposed(transposed_b, onednn::engine(), b.get_data_handle());
            execute(prim, a, b_as_transposed, c);
        });
        CHECK_FALSE(v.passed);
        CHECK(v.max_abs_error > v.tolerance);
    }
    SECTION("a correct primitive whose output is then corrupted in one place") {
        auto pd = make_primitive_desc(p);
        dnnl::matmul prim(pd);
        const Verification v = verify(p, pd.weights_desc(), [&](dnnl::memory& a, dnnl::memory& b, dnnl::memory& c) {
            execute(prim, a, b, c);
            static_cast<float*>(c.get_data_handle())[p.n * 5 + 3] += 0.5f;
        });
        CHECK_FALSE(v.passed);
        CHECK(v.max_abs_error == Approx(0.5).epsilon(1e-3));
    }
    SECTION("a kernel that writes nothing") {
        const Verification v = verify(p, plain_b, [](dnnl::memory&, dnnl::memory&, dnnl::memory&) {});
        CHECK_FALSE(v.passed);
    }
    SECTION("an int8 result off by one") {
        const Problem q = verification_problem("int8");
        auto pd = make_primitive_desc(q);
        dnnl::matmul prim(pd);
        const Verification v = verify(q, pd.weights_desc(), [&](dnnl::memory& a, dnnl::memory& b, dnnl::memory& c) {
            execute(prim, a, b, c);
            static_cast<int32_t*>(c.get_data_handle())[0] += 1;
        });
        CHECK_FALSE(v.passed);
        CHECK(v.max_abs_error == 1.0);
    }
}

TEST_CASE("fp16 without AVX512-FP16 comes back unsupported with a reason", "[matmul]") {
    if (cpu_has_flag("avx512_fp16") || cpu_has_flag("amx_fp16")) {
        WARN("this CPU has native fp16: skipping");
        return;
    }
    const calib_plugin_api* api =
        sdk::make_api<MatmulPlugin>("org.calib.matmul", "matmul", "0", "calib", "test");
    char buf[512] = {};
    calib_message err{buf, sizeof buf};
    void* ctx = nullptr;
    REQUIRE(api->init(nullptr, &ctx, err) == CALIB_OK);
    const uint32_t n = api->case_count(ctx);
    bool found = false;
    for (uint32_t i = 0; i < n; ++i) {
        calib_case_info info{};
        info.struct_size = sizeof info;
        REQUIRE(api->get_case(ctx, i, &info, err) == CALIB_OK);
        if (std::string(info.name) != "matmul_fp16_256") continue;
        found = true;
        void* inst = nullptr;
        CHECK(api->prepare(ctx, i, &inst, err) == CALIB_UNSUPPORTED);
        CHECK(inst == nullptr);
        CHECK(std::string(buf).find("fp16") != std::string::npos);
    }
    CHECK(found);
    api->shutdown(ctx);
}

TEST_CASE("a prepared fp32 case is verified, names its kernel and runs", "[matmul]") {
    MatmulPlugin plugin;
    const auto cases = plugin.cases();
    auto inst = plugin.prepare(find_case(cases, "matmul_fp32_256"));
    REQUIRE(inst);
    CHECK(inst->verified);
    CHECK(inst->max_abs_error <= inst->tolerance);
    CHECK_FALSE(inst->reference_fallback);
    CHECK_FALSE(onednn::is_reference_impl(inst->implementation));
    CHECK(inst->implementation != "unknown");
    CHECK(inst->run(3) > 0);
    CHECK_FALSE(plugin.device_name().empty());
}

TEST_CASE("fill_random writes plain memories in place with the reorder's values", "[matmul]") {
    using dt = dnnl::memory::data_type;
    // A plain (ab) memory takes the in-place path, a transposed (ba) one the f32 buffer and reorder:
    // read back in plain order, both hold the same values.
    for (dt type : {dt::f32, dt::bf16, dt::s8, dt::u8, dt::s32}) {
        INFO(static_cast<int>(type));
        const bool integer = type == dt::s8 || type == dt::u8 || type == dt::s32;
        const float lo = type == dt::u8 ? 1.0f : integer ? -8.0f : -1.0f, hi = integer ? 8.0f : 1.0f;
        dnnl::memory plain({{37, 53}, type, tag::ab}, onednn::engine());
        dnnl::memory other({{37, 53}, type, tag::ba}, onednn::engine());
        onednn::fill_random(plain, 7, lo, hi);
        onednn::fill_random(other, 7, lo, hi);
        const auto p = onednn::to_f32(plain), o = onednn::to_f32(other);
        CHECK(p == o);
        CHECK(onednn::max_abs(plain) == onednn::max_abs(p));
        CHECK(onednn::max_abs(other) == onednn::max_abs(o));
        CHECK(onednn::max_abs(p) > 0);
        // A row, a column and one entry read back as regions.
        CHECK(onednn::to_f32(plain, {1, 53}, {5, 0}) == std::vector<float>(p.begin() + 5 * 53, p.begin() + 6 * 53));
        std::vector<float> col;
        for (int r = 0; r < 37; ++r) col.push_back(p[static_cast<std::size_t>(r * 53 + 11)]);
        CHECK(onednn::to_f32(plain, {37, 1}, {0, 11}) == col);
        CHECK(onednn::to_f32(other, {37, 1}, {0, 11}) == col);
        CHECK(onednn::to_f32(plain, {1, 1}, {36, 52}) == std::vector<float>{p.back()});
    }
}

TEST_CASE("a prepared large case checks its sampled entries", "[matmul]") {
    MatmulPlugin plugin;
    const auto cases = plugin.cases();
    for (const char* name : {"matmul_fp32_1x4096x4096", "matmul_int8_32x4096x4096", "matmul_bf16_512"}) {
        INFO(name);
        std::unique_ptr<sdk::Instance> inst;
        try {
            inst = plugin.prepare(find_case(cases, name));
        } catch (const sdk::Error& e) {
            if (e.status == CALIB_UNSUPPORTED) continue;  // no such kernel on this CPU
            throw;
        }
        CHECK(inst->verified);
        CHECK(inst->max_abs_error <= inst->tolerance);
    }
}

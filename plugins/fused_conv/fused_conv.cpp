#include "fused_conv.hpp"

#include <array>
#include <cmath>
#include <random>
#include <utility>

namespace calib::fused_conv {

using namespace calib::onednn;
using dnnl::algorithm;
using dnnl::memory;
using tag = memory::format_tag;

namespace {

constexpr float kEps = 1e-5f;

bool has_bn(Pattern p) { return p != Pattern::relu; }
bool has_relu(Pattern p) { return p != Pattern::bn; }
bool has_add(Pattern p) { return p == Pattern::bn_add_relu; }
bool depthwise(Pattern p) { return p == Pattern::dw_bn_relu; }

double element_size(const std::string& precision) { return precision == "fp32" ? 4 : 2; }

std::vector<float> uniform(std::size_t n, uint32_t seed, float lo, float hi) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return v;
}

memory f32_vector(const std::vector<float>& values) {
    memory m(memory::desc({static_cast<int64_t>(values.size())}, memory::data_type::f32, tag::x), engine());
    fill_from(m, values);
    return m;
}

}  // namespace

std::string pattern_name(Pattern p) {
    switch (p) {
        case Pattern::relu:
            return "Conv2d_ReLU";
        case Pattern::bn:
            return "Conv2d_BN";
        case Pattern::bn_relu:
            return "Conv2d_BN_ReLU";
        case Pattern::bn_add_relu:
            return "Conv2d_BN_Add_ReLU";
        case Pattern::dw_bn_relu:
            return "DWConv2d_BN_ReLU";
    }
    return "?";
}

std::vector<std::string> operators(Pattern p) {
    std::vector<std::string> ops{depthwise(p) ? "depthwise_conv" : "conv2d"};
    if (has_bn(p)) ops.emplace_back("batchnorm");
    if (has_add(p)) ops.emplace_back("add");
    if (has_relu(p)) ops.emplace_back("relu");
    return ops;
}

double flops(const Problem& p) {
    const double a = static_cast<double>(p.batch * p.channels * p.hw * p.hw);
    const double cin_per_group = depthwise(p.pattern) ? 1 : static_cast<double>(p.channels);
    double f = 2 * a * cin_per_group * 9;
    if (has_bn(p.pattern)) f += 2 * a;
    if (has_add(p.pattern)) f += a;
    return f;
}

double bytes(const Problem& p, calib_fusion_role role) {
    const double es = element_size(p.precision);
    const double a = static_cast<double>(p.batch * p.channels * p.hw * p.hw);
    const double c = static_cast<double>(p.channels);
    const double wn = depthwise(p.pattern) ? c * 9 : c * c * 9;
    double b = es * (a + wn + a);
    if (has_add(p.pattern)) b += es * a;
    if (role == CALIB_ROLE_FUSED) {
        if (has_bn(p.pattern)) b += 4 * c;
    } else {
        b += es * 2 * a * static_cast<double>(operators(p.pattern).size() - 1);
        if (has_bn(p.pattern)) b += 4 * 4 * c;
    }
    return b;
}

FusionPair build_pair(const Problem& p, bool faulty_fused) {
    const auto dt = data_type(p.precision);
    auto& eng = engine();
    const int64_t c = p.channels;
    const memory::dims act_dims{p.batch, c, p.hw, p.hw};
    const memory::dims w_dims = depthwise(p.pattern) ? memory::dims{c, 1, 1, 3, 3} : memory::dims{c, c, 3, 3};
    const memory::dims one{1, 1}, pad{1, 1};
    const memory::desc any_act(act_dims, dt, tag::any), any_w(w_dims, dt, tag::any);
    const memory::desc bias_md({c}, memory::data_type::f32, tag::x);
    const auto fwd = dnnl::prop_kind::forward_inference;

    // Host-side weights and BN parameters, so the fused side can fold them.
    const std::size_t w_count = static_cast<std::size_t>(c * (depthwise(p.pattern) ? 9 : c * 9));
    const float w_range = 1.0f / std::sqrt(static_cast<float>(w_count / static_cast<std::size_t>(c)));
    const auto w = uniform(w_count, 11, -w_range, w_range);  // keeps outputs O(1) for any C
    const auto gamma = uniform(static_cast<std::size_t>(c), 12, 0.5f, 1.5f);
    const auto beta = uniform(static_cast<std::size_t>(c), 13, -0.5f, 0.5f);
    const auto mean = uniform(static_cast<std::size_t>(c), 14, -0.5f, 0.5f);
    const auto var = uniform(static_cast<std::size_t>(c), 15, 0.5f, 1.5f);

    FusionPair pair;

    // Unfused convolution first: its chosen layouts are used by every other buffer.
    auto conv = make_pd("convolution", [&] {
        return dnnl::convolution_forward::primitive_desc(
            dnnl::convolution_forward::desc(fwd, algorithm::convolution_direct, any_act, any_w, any_act, one,
                                            pad, pad),
            eng);
    });
    const memory::desc src_md = conv.src_desc(), dst_md = conv.dst_desc();
    memory src(src_md, eng), w_unfused(conv.weights_desc(), eng);
    fill_random(src, 1);
    fill_from(w_unfused, w);
    memory residual;
    if (has_add(p.pattern)) {
        residual = memory(dst_md, eng);
        fill_random(residual, 2);
    }

    // Fused: BN folded into weights and bias; add and ReLU as post-ops.
    {
        dnnl::post_ops ops;
        if (!faulty_fused) {
            if (has_add(p.pattern)) ops.append_binary(algorithm::binary_add, dst_md);
            if (has_relu(p.pattern)) ops.append_eltwise(1.0f, algorithm::eltwise_relu, 0.0f, 0.0f);
        }
        dnnl::primitive_attr attr;
        attr.set_post_ops(ops);
        const bool with_bias = has_bn(p.pattern) && !(faulty_fused && p.pattern == Pattern::bn);
        auto pd = make_pd("fused convolution", [&] {
            auto d = with_bias ? dnnl::convolution_forward::desc(fwd, algorithm::convolution_direct, src_md,
                                                                 any_w, bias_md, dst_md, one, pad, pad)
                               : dnnl::convolution_forward::desc(fwd, algorithm::convolution_direct, src_md,
                                                                 any_w, dst_md, one, pad, pad);
            return dnnl::convolution_forward::primitive_desc(d, attr, eng);
        });
        std::vector<float> wf = w;
        std::vector<float> bias(static_cast<std::size_t>(c));
        if (has_bn(p.pattern)) {
            const std::size_t per_out = w_count / static_cast<std::size_t>(c);
            for (std::size_t o = 0; o < static_cast<std::size_t>(c); ++o) {
                const float scale = gamma[o] / std::sqrt(var[o] + kEps);
                for (std::size_t i = 0; i < per_out; ++i) wf[o * per_out + i] *= scale;
                bias[o] = beta[o] - mean[o] * scale;
            }
        }
        memory wm(pd.weights_desc(), eng);
        fill_from(wm, wf);
        pair.fused_out = memory(dst_md, eng);
        std::unordered_map<int, memory> args{
            {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, pair.fused_out}};
        if (with_bias) args[DNNL_ARG_BIAS] = f32_vector(bias);
        if (has_add(p.pattern) && !faulty_fused)
            args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] = residual;
        add_step(*pair.fused, "conv_fused", pd, std::move(args));
    }

    // Unfused: conv -> t; bn(t) -> t; t + residual -> t; relu(t) -> out; each a new buffer.
    {
        auto& chain = *pair.unfused;
        memory cur(dst_md, eng);
        add_step(chain, operators(p.pattern)[0], conv,
                 {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w_unfused}, {DNNL_ARG_DST, cur}});
        if (has_bn(p.pattern)) {
            const auto flags = dnnl::normalization_flags::use_global_stats |
                               dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
            auto bn = make_pd("batch_normalization", [&] {
                return dnnl::batch_normalization_forward::primitive_desc(
                    dnnl::batch_normalization_forward::desc(fwd, dst_md, kEps, flags), eng);
            });
            memory next(dst_md, eng);
            add_step(chain, "batchnorm", bn,
                     {{DNNL_ARG_SRC, cur},
                      {DNNL_ARG_DST, next},
                      {DNNL_ARG_MEAN, f32_vector(mean)},
                      {DNNL_ARG_VARIANCE, f32_vector(var)},
                      {DNNL_ARG_SCALE, f32_vector(gamma)},
                      {DNNL_ARG_SHIFT, f32_vector(beta)}});
            cur = next;
        }
        if (has_add(p.pattern)) {
            auto add = make_pd("binary add", [&] {
                return dnnl::binary::primitive_desc(
                    dnnl::binary::desc(algorithm::binary_add, dst_md, dst_md, dst_md), eng);
            });
            memory next(dst_md, eng);
            add_step(chain, "add", add,
                     {{DNNL_ARG_SRC_0, cur}, {DNNL_ARG_SRC_1, residual}, {DNNL_ARG_DST, next}});
            cur = next;
        }
        if (has_relu(p.pattern)) {
            auto relu = make_pd("eltwise relu", [&] {
                return dnnl::eltwise_forward::primitive_desc(
                    dnnl::eltwise_forward::desc(fwd, algorithm::eltwise_relu, dst_md, 0.0f, 0.0f), eng);
            });
            memory next(dst_md, eng);
            add_step(chain, "relu", relu, {{DNNL_ARG_SRC, cur}, {DNNL_ARG_DST, next}});
            cur = next;
        }
        pair.unfused_out = cur;
    }
    return pair;
}

std::unique_ptr<ChainInstance> prepare_problem(const Problem& p, calib_fusion_role role,
                                               const onednn::PairCheck* known) {
    return verified_role(build_pair(p), p.precision, role, known);
}

std::vector<sdk::CaseSpec> FusedConvPlugin::cases() {
    // (B, C, H=W): the origin's three shapes plus one larger (twice the batch of the last).
    const std::array<std::array<int64_t, 3>, 4> shapes{
        {{1, 64, 56}, {4, 128, 28}, {8, 256, 14}, {16, 256, 14}}};
    const std::array<Pattern, 5> patterns{Pattern::relu, Pattern::bn, Pattern::bn_relu, Pattern::bn_add_relu,
                                          Pattern::dw_bn_relu};
    std::vector<sdk::CaseSpec> out;
    for (Pattern pat : patterns) {
        for (std::size_t si = 0; si < shapes.size(); ++si) {
            for (const char* prec : {"fp32", "bf16"}) {
                const auto& s = shapes[si];
                const Problem pr{pat, s[0], s[1], s[2], prec};
                FusionCase f;
                f.pattern = pattern_name(pat);
                f.precision = prec;
                f.operation_type = depthwise(pat) ? "depthwise_conv" : "conv2d";
                f.shape = {s[0], s[1], s[2], s[2]};
                f.flops = flops(pr);
                f.fused_bytes = bytes(pr, CALIB_ROLE_FUSED);
                f.unfused_bytes = bytes(pr, CALIB_ROLE_UNFUSED);
                f.operators = operators(pat);
                f.key_params = {{"batch", std::to_string(s[0])},
                                {"channels", std::to_string(s[1])},
                                {"height", std::to_string(s[2])},
                                {"width", std::to_string(s[2])},
                                {"kernel_size", "3"},
                                {"groups", depthwise(pat) ? std::to_string(s[1]) : "1"}};
                f.quick = si == 1;  // the middle original shape
                add_pair(out, f, pr);
            }
        }
    }
    return out;
}

}  // namespace calib::fused_conv

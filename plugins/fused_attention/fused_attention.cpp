#include "fused_attention.hpp"

#include <array>
#include <cmath>
#include <utility>

namespace calib::fused_attention {

using namespace calib::onednn;
using dnnl::algorithm;
using dnnl::memory;
using tag = memory::format_tag;

namespace {

bool has_softmax(Pattern p) { return p != Pattern::qk_scores; }
bool has_pv(Pattern p) { return p == Pattern::full; }
double element_size(const std::string& precision) { return precision == "fp32" ? 4 : 2; }

}  // namespace

std::string pattern_name(Pattern p) {
    switch (p) {
        case Pattern::qk_scores:
            return "QK_AttentionScores";
        case Pattern::qk_softmax:
            return "QK_Softmax";
        case Pattern::full:
            return "FullAttention";
    }
    return "?";
}

std::vector<std::string> operators(Pattern p) {
    std::vector<std::string> ops{"matmul", "mul"};
    if (has_softmax(p)) ops.emplace_back("softmax");
    if (has_pv(p)) ops.emplace_back("matmul");
    return ops;
}

double flops(const Problem& p) {
    const double b = static_cast<double>(p.batch), s = static_cast<double>(p.seq),
                 d = static_cast<double>(p.dim);
    switch (p.pattern) {
        case Pattern::qk_scores:
            return b * (2 * s * s * d + s * s);
        case Pattern::qk_softmax:
            return b * (2 * s * s * d + 6 * s * s);
        case Pattern::full:
            return b * (4 * s * s * d + 6 * s * s);
    }
    return 0;
}

double bytes(const Problem& p, calib_fusion_role role) {
    const double x = static_cast<double>(p.batch * p.seq * p.dim);
    const double s = static_cast<double>(p.batch * p.seq * p.seq);
    const bool fused = role == CALIB_ROLE_FUSED;
    double elems = 0;
    switch (p.pattern) {
        case Pattern::qk_scores:
            elems = fused ? 2 * x + s : 2 * x + 3 * s;
            break;
        case Pattern::qk_softmax:
            elems = fused ? 2 * x + s : 2 * x + 5 * s;
            break;
        case Pattern::full:
            elems = fused ? 4 * x : 4 * x + 6 * s;
            break;
    }
    return elems * element_size(p.precision);
}

FusionPair build_pair(const Problem& p, bool faulty_fused) {
    const auto dt = data_type(p.precision);
    auto& eng = engine();
    const float scale = 1.0f / std::sqrt(static_cast<float>(p.dim));
    const memory::desc qv_md({p.batch, p.seq, p.dim}, dt, tag::abc);
    const memory::desc kt_md({p.batch, p.dim, p.seq}, dt, tag::acb);  // K stored (B,S,D), read as K^T
    const memory::desc s_md({p.batch, p.seq, p.seq}, dt, tag::abc);
    const auto fwd = dnnl::prop_kind::forward_inference;

    memory q(qv_md, eng), k(kt_md, eng), v(qv_md, eng);
    fill_random(q, 1);
    fill_random(k, 2);
    fill_random(v, 3);

    auto softmax_pd = [&] {
        return make_pd("softmax", [&] {
            return dnnl::softmax_forward::primitive_desc(dnnl::softmax_forward::desc(fwd, s_md, 2), eng);
        });
    };
    auto pv_pd = [&] {
        return make_pd("matmul P.V", [&] {
            return dnnl::matmul::primitive_desc(dnnl::matmul::desc(s_md, qv_md, qv_md), eng);
        });
    };
    FusionPair pair;

    // Fused: QK^T with the scale as an eltwise linear post-op; softmax in place; P.V.
    {
        dnnl::post_ops ops;
        if (!faulty_fused) ops.append_eltwise(1.0f, algorithm::eltwise_linear, scale, 0.0f);
        dnnl::primitive_attr attr;
        attr.set_post_ops(ops);
        auto qk = make_pd("scaled matmul QK^T", [&] {
            return dnnl::matmul::primitive_desc(dnnl::matmul::desc(qv_md, kt_md, s_md), attr, eng);
        });
        memory scores(s_md, eng);
        add_step(*pair.fused, "matmul_qk_scaled", qk,
                 {{DNNL_ARG_SRC, q}, {DNNL_ARG_WEIGHTS, k}, {DNNL_ARG_DST, scores}});
        pair.fused_out = scores;
        if (has_softmax(p.pattern))
            add_step(*pair.fused, "softmax_inplace", softmax_pd(),
                     {{DNNL_ARG_SRC, scores}, {DNNL_ARG_DST, scores}});
        if (has_pv(p.pattern)) {
            memory o(qv_md, eng);
            add_step(*pair.fused, "matmul_pv", pv_pd(),
                     {{DNNL_ARG_SRC, scores}, {DNNL_ARG_WEIGHTS, v}, {DNNL_ARG_DST, o}});
            pair.fused_out = o;
        }
    }

    // Unfused: QK^T -> t1; t1 x scale -> t2; softmax(t2) -> t3; t3.V -> o.
    {
        auto& chain = *pair.unfused;
        auto qk = make_pd("matmul QK^T", [&] {
            return dnnl::matmul::primitive_desc(dnnl::matmul::desc(qv_md, kt_md, s_md), eng);
        });
        memory t1(s_md, eng), t2(s_md, eng);
        add_step(chain, "matmul_qk", qk, {{DNNL_ARG_SRC, q}, {DNNL_ARG_WEIGHTS, k}, {DNNL_ARG_DST, t1}});
        auto mul = make_pd("eltwise linear", [&] {
            return dnnl::eltwise_forward::primitive_desc(
                dnnl::eltwise_forward::desc(fwd, algorithm::eltwise_linear, s_md, scale, 0.0f), eng);
        });
        add_step(chain, "scale", mul, {{DNNL_ARG_SRC, t1}, {DNNL_ARG_DST, t2}});
        pair.unfused_out = t2;
        if (has_softmax(p.pattern)) {
            memory t3(s_md, eng);
            add_step(chain, "softmax", softmax_pd(), {{DNNL_ARG_SRC, t2}, {DNNL_ARG_DST, t3}});
            pair.unfused_out = t3;
        }
        if (has_pv(p.pattern)) {
            memory o(qv_md, eng);
            add_step(chain, "matmul_pv", pv_pd(),
                     {{DNNL_ARG_SRC, pair.unfused_out}, {DNNL_ARG_WEIGHTS, v}, {DNNL_ARG_DST, o}});
            pair.unfused_out = o;
        }
    }
    return pair;
}

std::unique_ptr<ChainInstance> prepare_problem(const Problem& p, calib_fusion_role role,
                                               const onednn::PairCheck* known) {
    return verified_role(build_pair(p), p.precision, role, known);
}

std::vector<sdk::CaseSpec> FusedAttentionPlugin::cases() {
    // (B, S, D): the origin's three shapes plus one longer sequence.
    const std::array<std::array<int64_t, 3>, 4> shapes{
        {{1, 128, 64}, {4, 256, 64}, {8, 512, 64}, {8, 1024, 64}}};
    const std::array<Pattern, 3> patterns{Pattern::qk_scores, Pattern::qk_softmax, Pattern::full};
    std::vector<sdk::CaseSpec> out;
    for (Pattern pat : patterns) {
        for (std::size_t si = 0; si < shapes.size(); ++si) {
            for (const char* prec : {"fp32", "bf16"}) {
                const auto& s = shapes[si];
                const Problem pr{pat, s[0], s[1], s[2], prec};
                FusionCase f;
                f.pattern = pattern_name(pat);
                f.precision = prec;
                f.operation_type = "attention";
                f.shape = {s[0], s[1], s[2]};
                f.flops = flops(pr);
                f.fused_bytes = bytes(pr, CALIB_ROLE_FUSED);
                f.unfused_bytes = bytes(pr, CALIB_ROLE_UNFUSED);
                f.operators = operators(pat);
                f.key_params = {{"batch", std::to_string(s[0])},
                                {"seq_len", std::to_string(s[1])},
                                {"head_dim", std::to_string(s[2])}};
                f.quick = si == 1;  // the middle original shape
                add_pair(out, f, pr);
            }
        }
    }
    return out;
}

}  // namespace calib::fused_attention

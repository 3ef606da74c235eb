// The topology section's pieces: the alpha-beta fit on points with a known answer, nccl-tests' bus
// factors, sizes as users write them, lookup, and what validation catches.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "calib/core/topology.hpp"

using namespace calib::core;

namespace {

std::vector<double> sweep() {
    std::vector<double> b;
    for (double x = 4096; x <= 1073741824.0; x *= 4) b.push_back(x);
    return b;
}

std::vector<double> model(const std::vector<double>& bytes, double alpha_us, double beta_gbps, double noise = 0,
                          unsigned seed = 1) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(-noise, noise);
    std::vector<double> t;
    for (double b : bytes) t.push_back((alpha_us * 1e-6 + b / (beta_gbps * 1e9)) * (1 + u(rng)));
    return t;
}

}  // namespace

TEST_CASE("topology: the alpha-beta fit recovers a known link", "[topology]") {
    const auto b = sweep();
    AlphaBeta f = fit_alpha_beta(b, model(b, 32, 394));
    REQUIRE(f.ok);
    CHECK(f.alpha_us == Approx(32).epsilon(1e-9));
    CHECK(f.beta_gbps == Approx(394).epsilon(1e-9));
    CHECK(f.residual < 1e-9);
    CHECK(predict_seconds(f, 64.0 * 1024 * 1024) == Approx(32e-6 + 64.0 * 1024 * 1024 / 394e9));
    // With 3% noise on every point, alpha still within 10% (set by the small sizes) and beta within 5%.
    f = fit_alpha_beta(b, model(b, 10, 55, 0.03, 7));
    REQUIRE(f.ok);
    CHECK(f.alpha_us == Approx(10).epsilon(0.10));
    CHECK(f.beta_gbps == Approx(55).epsilon(0.05));
    CHECK(f.residual > 0);
    CHECK(f.residual < 0.05);
}

TEST_CASE("topology: degenerate sweeps give no fit, a negative intercept is clamped", "[topology]") {
    CHECK_FALSE(fit_alpha_beta({4096}, {1e-5}).ok);
    CHECK_FALSE(fit_alpha_beta({4096, 4096}, {1e-5, 1.1e-5}).ok);
    CHECK_FALSE(fit_alpha_beta({4096, 8192}, {2e-5, 1e-5}).ok);  // faster for more bytes: no positive beta
    // Time proportional to size but slightly convex: the free intercept would go negative.
    const AlphaBeta f = fit_alpha_beta({1e6, 1e7, 1e8}, {0.9e-4, 1e-3, 1.05e-2});
    REQUIRE(f.ok);
    CHECK(f.alpha_us == 0);
    CHECK(f.beta_gbps > 9);
    CHECK(f.beta_gbps < 11.2);
}

TEST_CASE("topology: bus bandwidth factors are nccl-tests'", "[topology]") {
    CHECK(bus_factor("all_reduce", 2) == Approx(1.0));
    CHECK(bus_factor("all_reduce", 8) == Approx(1.75));
    CHECK(bus_factor("all_gather", 4) == Approx(0.75));
    CHECK(bus_factor("reduce_scatter", 8) == Approx(0.875));
    CHECK(bus_factor("broadcast", 8) == Approx(1.0));
    CHECK(bus_factor("all_reduce", 1) == 0);
}

TEST_CASE("topology: sizes as users write them", "[topology]") {
    CHECK(parse_bytes("4096") == 4096);
    CHECK(parse_bytes("64MiB") == 64.0 * 1024 * 1024);
    CHECK(parse_bytes("256 MiB") == 256.0 * 1024 * 1024);
    CHECK(parse_bytes("1G") == 1073741824.0);
    CHECK(parse_bytes("1GB") == 1e9);
    CHECK_THROWS(parse_bytes("lots"));
    CHECK_THROWS(parse_bytes("12 parsecs"));
    CHECK_THROWS(parse_bytes("-4"));
    CHECK(bytes_text(4096) == "4 KiB");
    CHECK(bytes_text(1073741824.0) == "1 GiB");
}

TEST_CASE("topology: JSON round trip, lookup and validation", "[topology]") {
    Topology t;
    t.devices = {{"org.x", 0, "gpu a", "gpu", "0000:01:00.0"}, {"org.x", 1, "gpu b", "gpu", ""}};
    const auto b = sweep();
    for (const bool pinned : {false, true}) {
        TopologyLink l{"org.x", "copy_h2d", "host", "0", pinned ? "pinned" : "pageable", "pcie", {}, {}, {}};
        const auto s = model(b, 10, pinned ? 50 : 20);
        for (std::size_t i = 0; i < b.size(); ++i) l.points.push_back({b[i], s[i], b[i] / s[i] / 1e9, {}, {}, {}, {}, ""});
        l.fit = fit_alpha_beta(b, s);
        t.links.push_back(l);
    }
    TopologyCollective c{"org.x", "all_reduce", 2, {0, 1}, {}, 0, {}};
    const auto s = model(b, 30, 150);
    for (std::size_t i = 0; i < b.size(); ++i) c.points.push_back({b[i], s[i], b[i] / s[i] / 1e9, b[i] / s[i] / 1e9, {}, {}, {}, ""});
    c.fit = fit_alpha_beta(b, s);
    c.bus_beta_gbps = c.fit.beta_gbps;
    t.collectives.push_back(c);

    const boost::json::value doc = to_json(t);
    CHECK(validate_topology(doc).empty());
    const Topology back = read_topology(doc);
    REQUIRE(back.links.size() == 2);
    CHECK(back.devices[0].bus_id == "0000:01:00.0");
    CHECK(back.links[1].fit.beta_gbps == Approx(50));
    CHECK(find_link(back, "host", "0")->memory == "pinned");  // pinned unless asked
    CHECK(find_link(back, "host", "0", "pageable")->fit.beta_gbps == Approx(20));
    CHECK(find_link(back, "0", "host") == nullptr);
    CHECK(find_collective(back, "all_reduce", 2) != nullptr);
    CHECK(find_collective(back, "all_reduce", 4) == nullptr);
    CHECK(nearest_point(back.links[0].points, 60e6)->bytes == 64.0 * 1024 * 1024);

    boost::json::value bad = doc;
    bad.at("links").as_array()[0].as_object()["beta_gbps"] = 99.0;  // not the fit of its points
    bad.at("links").as_array()[1].as_object()["points"].as_array()[0].as_object()["gbps"] = 1.0;
    bad.at("collectives").as_array()[0].as_object()["ranks"] = 0;
    const auto problems = validate_topology(bad);
    REQUIRE(problems.size() == 3);
    CHECK_THAT(problems[0], Catch::Contains("links[0].beta_gbps"));
    CHECK_THAT(problems[1], Catch::Contains("links[1].points[0].gbps"));
    CHECK_THAT(problems[2], Catch::Contains("collectives[0].ranks"));
    CHECK_FALSE(validate_topology(boost::json::object{}).empty());
}

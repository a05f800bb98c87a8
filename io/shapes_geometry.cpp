// The signed distances of the shapes generator's primitives and regions, their bounding boxes, the
// similarity that places a shape, and rasterising a region to a Field (see shapes_geometry.h).
#include "io/shapes_geometry.h"

namespace ghm::io::shapes {
namespace {

struct Box {
  float x0 = std::numeric_limits<float>::max(), y0 = std::numeric_limits<float>::max();
  float x1 = std::numeric_limits<float>::lowest(), y1 = std::numeric_limits<float>::lowest();
  void include(float x, float y, float margin = 0) {
    x0 = std::min(x0, x - margin), y0 = std::min(y0, y - margin);
    x1 = std::max(x1, x + margin), y1 = std::max(y1, y + margin);
  }
  float longest_side() const { return std::max(x1 - x0, y1 - y0); }
};

float signed_distance(const Polygon& polygon, Point q) {
  const std::vector<Point>& v = polygon.vertices;
  float nearest_sq = std::numeric_limits<float>::max();
  bool inside = false;
  for (std::size_t i = 0, j = v.size() - 1; i < v.size(); j = i++) {
    const float ex = v[i].x - v[j].x, ey = v[i].y - v[j].y;
    const float wx = q.x - v[j].x, wy = q.y - v[j].y;
    const float t = std::clamp((wx * ex + wy * ey) / (ex * ex + ey * ey), 0.0f, 1.0f);
    const float dx = wx - ex * t, dy = wy - ey * t;
    nearest_sq = std::min(nearest_sq, dx * dx + dy * dy);
    if ((v[j].y > q.y) != (v[i].y > q.y) && q.x < v[j].x + wy * ex / ey) inside = !inside;
  }
  return inside ? -std::sqrt(nearest_sq) : std::sqrt(nearest_sq);
}

float signed_distance(const Ellipse& e, Point q) {
  const float dx = q.x - e.centre.x, dy = q.y - e.centre.y;
  const float u = e.axis.x * dx + e.axis.y * dy, v = -e.axis.y * dx + e.axis.x * dy;
  const float k0 = std::hypot(u / e.rx, v / e.ry), k1 = std::hypot(u / (e.rx * e.rx), v / (e.ry * e.ry));
  return k1 > 0 ? k0 * (k0 - 1) / k1 : -std::min(e.rx, e.ry);
}

float signed_distance(const Capsule& c, Point q) {
  const float ex = c.b.x - c.a.x, ey = c.b.y - c.a.y, wx = q.x - c.a.x, wy = q.y - c.a.y;
  const float length_sq = ex * ex + ey * ey;
  const float t = length_sq > 0 ? std::clamp((wx * ex + wy * ey) / length_sq, 0.0f, 1.0f) : 0.0f;
  return std::hypot(wx - ex * t, wy - ey * t) - c.radius;
}

float union_distance(const std::vector<Primitive>& primitives, Point q) {
  float d = std::numeric_limits<float>::max();
  for (const Primitive& p : primitives)
    d = std::min(d, std::visit([&](const auto& s) { return signed_distance(s, q); }, p));
  return d;
}

float signed_distance(const Region& region, Point q) {
  const float d = union_distance(region.add, q);
  return region.cut.empty() ? d : std::max(d, -union_distance(region.cut, q));
}

void include_in(Box& box, const Polygon& p) {
  for (const Point& v : p.vertices) box.include(v.x, v.y);
}
void include_in(Box& box, const Ellipse& e) {
  const float hx = std::hypot(e.rx * e.axis.x, e.ry * e.axis.y), hy = std::hypot(e.rx * e.axis.y, e.ry * e.axis.x);
  box.include(e.centre.x - hx, e.centre.y - hy);
  box.include(e.centre.x + hx, e.centre.y + hy);
}
void include_in(Box& box, const Capsule& c) {
  box.include(c.a.x, c.a.y, c.radius);
  box.include(c.b.x, c.b.y, c.radius);
}

// The bounding box of the added primitives (cuts can only make the region smaller).
Box bounds(const Region& region) {
  Box box;
  for (const Primitive& p : region.add) std::visit([&](const auto& s) { include_in(box, s); }, p);
  return box;
}

// p -> scale * R(angle) * p + offset, applied to every primitive of a region.
struct Similarity {
  float scale = 1, cos_a = 1, sin_a = 0;
  Point offset;

  Point apply(Point p) const {
    return {scale * (cos_a * p.x - sin_a * p.y) + offset.x, scale * (sin_a * p.x + cos_a * p.y) + offset.y};
  }
  void transform(Polygon& p) const {
    for (Point& v : p.vertices) v = apply(v);
  }
  void transform(Ellipse& e) const {
    e.centre = apply(e.centre), e.rx *= scale, e.ry *= scale;
    e.axis = {cos_a * e.axis.x - sin_a * e.axis.y, sin_a * e.axis.x + cos_a * e.axis.y};
  }
  void transform(Capsule& c) const { c.a = apply(c.a), c.b = apply(c.b), c.radius *= scale; }
  void transform(Region& region) const {
    for (auto* list : {&region.add, &region.cut})
      for (Primitive& p : *list) std::visit([&](auto& s) { transform(s); }, p);
  }
};

}  // namespace

Region place(Region region, float angle, float size, Point centre) {
  Similarity rotate{1, std::cos(angle), std::sin(angle), {}};
  rotate.transform(region);
  const Box box = bounds(region);
  const float scale = size / box.longest_side();
  Similarity fit{
      scale, 1, 0, {centre.x - scale * 0.5f * (box.x0 + box.x1), centre.y - scale * 0.5f * (box.y0 + box.y1)}};
  fit.transform(region);
  return region;
}

Field rasterize(const Region& region) {
  const Box box = bounds(region);
  Field f;
  f.x0 = static_cast<int>(std::floor(box.x0)) - 1, f.y0 = static_cast<int>(std::floor(box.y0)) - 1;
  f.width = static_cast<int>(std::ceil(box.x1)) + 1 - f.x0, f.height = static_cast<int>(std::ceil(box.y1)) + 1 - f.y0;
  f.distance.resize(static_cast<std::size_t>(f.width) * f.height);
  for (int j = 0; j < f.height; ++j)
    for (int i = 0; i < f.width; ++i)
      f.distance[static_cast<std::size_t>(j) * f.width + i] =
          signed_distance(region, {static_cast<float>(f.x0 + i) + 0.5f, static_cast<float>(f.y0 + j) + 0.5f});
  return f;
}

namespace {

Polygon plus_polygon(float half_width, float aspect) {
  const float a = half_width;
  Polygon p{
      {{a, 1}, {a, a}, {1, a}, {1, -a}, {a, -a}, {a, -1}, {-a, -1}, {-a, -a}, {-1, -a}, {-1, a}, {-a, a}, {-a, 1}}};
  for (Point& v : p.vertices) v.y *= aspect;
  return p;
}

}  // namespace

// A class shape in its unit frame. Every class varies a little (aspect within 10%, star depth,
// ring width, arm width, triangle angles) so that no two instances are pixel-identical.
Region class_shape(int class_index, Generator& rng) {
  const float aspect = rng.uniform(0.9f, 1.1f);
  const auto unit = [](int) { return 1.0f; };
  switch (class_index) {
    case 0: return {{Ellipse{{}, 1, aspect}}, {}};                                   // circle
    case 1: return {{star_polygon(4, kPi / 4, aspect, unit)}, {}};                   // square
    case 2: {                                                                        // triangle
      const float jitter[3] = {0, rng.uniform(-0.25f, 0.25f), rng.uniform(-0.25f, 0.25f)};
      Polygon p;
      for (int k = 0; k < 3; ++k) {
        const float a = -kPi / 2 + 2 * kPi * static_cast<float>(k) / 3 + jitter[k];
        p.vertices.push_back({std::cos(a), aspect * std::sin(a)});
      }
      return {{p}, {}};
    }
    case 3: {                                                                        // star
      const float inner = rng.uniform(0.38f, 0.55f);
      return {{star_polygon(10, -kPi / 2, aspect, [&](int k) { return k % 2 == 0 ? 1.0f : inner; })}, {}};
    }
    case 4: return {{star_polygon(6, 0, aspect, unit)}, {}};                         // hexagon
    case 5: {                                                                        // ring
      const float inner = rng.uniform(0.4f, 0.65f);
      return {{Ellipse{{}, 1, aspect}}, {Ellipse{{}, inner, inner * aspect}}};
    }
    default: return {{plus_polygon(rng.uniform(0.22f, 0.38f), aspect)}, {}};        // cross
  }
}

}  // namespace ghm::io::shapes

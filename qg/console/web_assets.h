// qg/console/web_assets.h
// -----------------------------------------------------------------------------
//
// The web console's page, script and style sheet (qg/console/web/*),
// compiled into the binary by //qg/console:web_assets_cc: nothing is read
// from disk or fetched at run time.
//
// Example:
//   const WebAsset* page = FindWebAsset("index.html");
//   page->content_type;  // "text/html; charset=utf-8"
#ifndef QG_CONSOLE_WEB_ASSETS_H_
#define QG_CONSOLE_WEB_ASSETS_H_

#include "absl/strings/string_view.h"

namespace qg::console {

// WebAsset
struct WebAsset {
  const char* name;          // "app.js"
  const char* content_type;  // "text/javascript; charset=utf-8"
  const char* content;       // the file as it is
};

// Every file, ending with an entry whose name is null.
extern const WebAsset kWebAssets[];

// FindWebAsset()
//
// The file named `name` ("index.html", "app.js", "app.css"); null if none.
inline const WebAsset* FindWebAsset(absl::string_view name) {
  for (const WebAsset* a = kWebAssets; a->name != nullptr; ++a) {
    if (name == a->name) return a;
  }
  return nullptr;
}

}  // namespace qg::console

#endif  // QG_CONSOLE_WEB_ASSETS_H_

# The parts of nixpkgs's `lib` that this repository's flake uses.
let
  # lib.fileset: a file set is represented by the list of paths it covers.
  fileset = {
    toSource = {
      root,
      fileset,
    }:
      assert builtins.isPath root;
      assert builtins.isList fileset; root;
    unions = sets:
      assert builtins.isList sets;
        builtins.concatLists (map (s:
          if builtins.isPath s
          then assert builtins.pathExists s; [s]
          else s)
        sets);
    fileFilter = predicate: path:
      assert builtins.isPath path;
      assert builtins.isBool (predicate {
        name = "example.proptest-regressions";
        type = "regular";
        hasExt = ext: ext == "proptest-regressions";
      }); [path];
    maybeMissing = path: [path];
  };
in {
  inherit fileset;
  genAttrs = names: f:
    builtins.listToAttrs (map (n: {
        name = n;
        value = f n;
      })
      names);
  importTOML = path: builtins.fromTOML (builtins.readFile path);
  licenses.asl20 = {
    spdxId = "Apache-2.0";
    shortName = "asl20";
  };
  optionals = cond: list:
    if cond
    then list
    else [];
}

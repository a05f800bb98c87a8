// One run per work directory, for every command that writes one (train, pretrain).
//
// A folder that already holds any of a run's files is refused unless the run continues it (resume)
// or replaces it (overwrite: those files and their "<name>.tmp.<pid>" temporaries are deleted
// first, symbolic links as links; nothing else in the folder is touched). Only the folder's own
// entries are looked at; a missing folder is fine (the run creates it).
#pragma once

#include <functional>
#include <string>

namespace ghm::engine {

// is_run_file(name): whether a file name in the folder is one the command writes. `command` names
// the command in errors ("train: the work directory ... holds an earlier run (...); pass
// <keep_hint>, or --overwrite to ..."); keep_hint says how that command keeps an earlier run
// ("--resume to continue it").
void claim_work_dir(const std::string& work_dir, bool resume, bool overwrite,
                    const std::function<bool(const std::string&)>& is_run_file, const char* command,
                    const char* keep_hint);

}  // namespace ghm::engine

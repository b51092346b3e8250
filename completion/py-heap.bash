# bash completion for py-heap                                 -*- shell-script -*-
#
# The function below knows no command: it reads the table written above it
# by scripts/gen-completion.py from `py-heap --json help` (the command
# table of native/src/commands.c). It completes the global options, the
# command names, each command's options, the values of options with a
# fixed set of choices, file names where the table says "file", command
# names after `help`, and type names (`list TYPE`, `refcheck --type`) read
# from the core given with --core, once per core: `py-heap --core CORE
# --json types --limit 0`. It needs bash 4 and nothing of bash-completion
# (it uses its _filedir when there).

# _py_heap_dequote WORD: WORD as the shell would pass it (quotes, \, ~).
_py_heap_dequote()
{
	local w=$1
	case $w in
	\'*\') w=${w:1:${#w}-2} ;;
	\"*\") w=${w:1:${#w}-2} ;;
	*) w=${w//\\/} ;;
	esac
	case $w in
	"~" | "~/"*) w=$HOME${w:1} ;;
	esac
	printf '%s' "$w"
}

# _py_heap_types PY_HEAP ARGS...: the type names of the heap the global
# options ARGS (--core, --exe, --sysroot, --debug-dir) name, one a line;
# read once per core (its path, size and time) and kept.
_py_heap_types()
{
	local prog=$1 core="" a key
	local -a args=()
	shift
	for a in "$@"; do
		case $a in
		--core=*) core=${a#--core=} args+=("$a") ;;
		--exe=* | --sysroot=* | --debug-dir=*) args+=("$a") ;;
		esac
	done
	[[ -n $core && -r $core ]] || return 0
	key="$prog ${args[*]} $(stat -L -c '%s %Y' -- "$core" 2>/dev/null)"
	if [[ $key != "${_py_heap_types_key-}" ]]; then
		# JSON, one line: the "type" of each entry of "types"; \" and \\
		# unescaped (type names hold no other escapes in practice).
		_py_heap_types_list=$("$prog" "${args[@]}" --no-debuginfod --json types \
			--limit 0 2>/dev/null </dev/null |
			grep -o '"type": "\([^"\\]\|\\.\)*"' |
			sed -e 's/^"type": "//' -e 's/"$//' -e 's/\\\(.\)/\1/g')
		_py_heap_types_key=$key
	fi
	printf '%s\n' "$_py_heap_types_list"
}

# _py_heap_values KIND CUR: sets COMPREPLY to what KIND completes to.
_py_heap_values()
{
	# (IFS: the words of -W and of the reply are one a line)
	local kind=$1 cur=$2 IFS=$'\n' choices
	case $kind in
	choice:*)
		choices=${kind#choice:}
		COMPREPLY=($(compgen -W "${choices// /$'\n'}" -- "$cur"))
		;;
	type)
		COMPREPLY=($(compgen -W "$(_py_heap_types "$prog" "${global[@]}")" \
			-- "$cur"))
		;;
	command)
		COMPREPLY=($(compgen -W "${_py_heap_commands// /$'\n'}" -- "$cur"))
		;;
	file)
		if declare -F _filedir >/dev/null; then
			_filedir
		else
			compopt -o filenames 2>/dev/null
			COMPREPLY=($(compgen -f -- "$cur"))
		fi
		;;
	*) COMPREPLY=() ;;
	esac
}

_py_heap()
{
	local -a words=()
	local i w cword cur prog
	COMPREPLY=()
	# The words up to the cursor, "--opt" "=" "value" (COMP_WORDBREAKS
	# splits at '=') joined again.
	for ((i = 0; i <= COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if ((${#words[@]} > 1)) && [[ $w == "=" && ${words[-1]} == --* ]]; then
			words[-1]+="="
		elif ((${#words[@]} > 1)) && [[ ${words[-1]} == --*= && $i -gt 1 &&
			${COMP_WORDS[i - 1]} == "=" ]]; then
			words[-1]+=$w
		else
			words+=("$w")
		fi
	done
	cword=$((${#words[@]} - 1))
	cur=${words[cword]}
	prog=$(_py_heap_dequote "${words[0]}")
	[[ $prog == */* ]] || prog=py-heap

	# What is before the cursor: global options, the command, its options
	# and its operand.
	local cmd="" expect="" operands=0 ended=0 name kind
	local -a global=() seen=()
	for ((i = 1; i < cword; i++)); do
		w=${words[i]}
		if [[ -n $expect ]]; then
			[[ -z $cmd ]] && global+=("$expect=$(_py_heap_dequote "$w")")
			expect=""
			continue
		fi
		if ((!ended)) && [[ $w == -- ]]; then
			ended=1
		elif ((!ended)) && [[ $w == --* ]]; then
			name=${w%%=*}
			seen+=("$name")
			if [[ $w == *=* ]]; then
				[[ -z $cmd ]] && global+=("$name=$(_py_heap_dequote "${w#*=}")")
			elif [[ -n ${_py_heap_value[$cmd:$name]+set} ]]; then
				expect=$name
			fi
		elif [[ -z $cmd ]]; then
			cmd=$w
			# (a command py-heap does not have: nothing to offer)
			[[ $cmd != @ && -n ${_py_heap_options[$cmd]+set} ]] || return 0
		else
			operands=$((operands + 1))
		fi
	done

	if [[ -n $expect ]]; then
		_py_heap_values "${_py_heap_value[$cmd:$expect]}" "$cur"
		return 0
	fi
	if ((!ended)) && [[ $cur == --*=* ]]; then
		name=${cur%%=*}
		kind=${_py_heap_value[$cmd:$name]-}
		[[ -n $kind ]] || return 0
		_py_heap_values "$kind" "${cur#*=}"
		# COMP_WORDBREAKS without '=': the word is --opt=value whole
		if [[ $COMP_WORDBREAKS != *=* ]]; then
			COMPREPLY=("${COMPREPLY[@]/#/$name=}")
		fi
		return 0
	fi
	if ((!ended)) && [[ $cur == -* ]]; then
		local -a opts=()
		# (the options before the command are under @)
		for name in ${_py_heap_options[${cmd:-@}]}; do
			# an option given once is not offered again, unless repeatable
			if [[ " ${seen[*]} " != *" $name "* ||
				" $_py_heap_repeatable " == *" $cmd:$name "* ]]; then
				opts+=("$name")
			fi
		done
		COMPREPLY=($(compgen -W "${opts[*]}" -- "$cur"))
		return 0
	fi
	if [[ -z $cmd ]]; then
		COMPREPLY=($(compgen -W "$_py_heap_commands" -- "$cur"))
		return 0
	fi
	if ((operands < ${_py_heap_operands[$cmd]-1})); then
		_py_heap_values "${_py_heap_operand[$cmd]-}" "$cur"
	fi
	return 0
}

complete -F _py_heap py-heap

# ex: filetype=sh
